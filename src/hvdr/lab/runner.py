"""Running the lab: in-process for tests (:class:`Lab`) and in the foreground for ``hvdr lab up`` (:func:`run_lab`).

A :class:`Lab` owns a :class:`~hvdr.lab.models.backend.LabBackend` built from a topology, and serves it from a
background thread with its own event loop: the wire (``hvdr.lab.wsman.server.WinRMServer``, one loopback port
per host), the control API, and one ticker that runs every due replication event a few times a second.

    with Lab(speed=600) as lab:             # or: async with Lab(...) as lab
        lab.endpoints["hosts"][0]["url"]   # WinRM for pywinrm
        lab.backend                        # the models, for assertions
        lab.advance(300)                   # move simulated time (any speed)
        lab.control("GET", "/vms")         # the control API, with the lab's token

The control API listens on loopback only and answers only requests that carry the lab's token
(``Authorization: Bearer <token>``); :meth:`Lab.write_endpoints` writes it beside the endpoints file (mode 600).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from hvdr.errors import ConfigError
from hvdr.lab.cmdlets import LabPSHost, ps_hosts
from hvdr.lab.control import create_app, token_path
from hvdr.lab.models.backend import LabBackend
from hvdr.lab.models.build import build_backend
from hvdr.lab.models.clock import LabClock
from hvdr.lab.wsman.auth import AuthPolicy
from hvdr.topology import Topology, default_topology, load_topology

TICK_SECONDS = 0.1


def default_endpoints_path() -> Path:
    """``<HVDR_HOME>/lab/endpoints.json`` (the settings' ``lab_endpoints``)."""
    from hvdr.settings import load_settings

    return load_settings().lab_endpoints


class Lab:
    """The lab in a background thread; ``start()``/``stop()`` or use it as a (sync or async) context manager."""

    def __init__(
        self,
        topology: Topology | Path | str | None = None,
        *,
        speed: float | None = None,
        https: bool | None = None,
        cert_dir: Path | None = None,
        wire: bool = True,
        tick_seconds: float = TICK_SECONDS,
        auth: AuthPolicy | None = None,
        idle_timeout_s: float | None = None,
    ) -> None:
        if isinstance(topology, Path | str):
            topology = load_topology(topology)
        self.topology = topology or default_topology()
        lab = self.topology.lab
        self.clock = LabClock(speed=lab.speed if speed is None else speed)
        self.backend: LabBackend = build_backend(self.topology, self.clock)
        self.hosts: dict[str, LabPSHost] = ps_hosts(self.backend)
        self.https = lab.https if https is None else https
        self.auth = auth or AuthPolicy()
        self.idle_timeout_s = idle_timeout_s
        self.cert_dir = cert_dir
        self.control_token = secrets.token_urlsafe(32)
        self.wire = wire
        self.tick_seconds = tick_seconds
        self.endpoints: dict[str, Any] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> Lab:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._thread_main, name="hvdr-lab", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            error, self._error = self._error, None
            self._thread.join()
            self._thread = None
            raise error
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._thread = None
        self._ready.clear()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Lab:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    @property
    def control_url(self) -> str:
        return str(self.endpoints.get("control", ""))

    # -- conveniences for tests -------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move simulated time forward and run everything that fell due."""
        self.backend.advance(seconds)

    def control(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        """Call the control API (``GET /vms``, ``POST /faults`` …) with the lab's token; the JSON answer."""
        return call_control(self.control_url, self.control_token, method, route, body)

    def write_endpoints(self, path: Path) -> Path:
        """Write the endpoints file and, beside it, the control API's token (both mode 600)."""
        _write_private(token_path(path), self.control_token + "\n")
        _write_private(path, json.dumps(self.endpoints, indent=2) + "\n")
        return path

    # -- the thread -----------------------------------------------------------------------------------------------

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
        finally:
            loop.close()
            self._loop = None

    def _credential(self, name: str | None) -> tuple[str, str]:
        lab = self.topology.lab
        reference = name or lab.default_credential
        credential = lab.credentials.get(reference)
        if credential is None:
            raise ConfigError(f"lab.credentials has no credential named {reference!r}")
        return credential.username, credential.password

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        specs: dict[str, tuple[str, str, str | None]] = {}
        for host_spec in self.topology.hosts:
            specs[host_spec.fqdn] = ("hyperv", host_spec.site, host_spec.credential)
        for vmm_spec in self.topology.vmm_servers:
            specs[vmm_spec.name] = ("vmm", vmm_spec.site, vmm_spec.credential)
        credentials = {name: self._credential(spec[2]) for name, spec in specs.items()}
        server: Any = None
        urls: dict[str, str] = {}
        if self.wire:
            from hvdr.lab.wsman.server import IDLE_CONNECTION_TIMEOUT_S, WinRMServer

            server = WinRMServer(
                self.hosts,
                credentials,
                https=self.https,
                cert_dir=self.cert_dir,
                auth=self.auth,
                idle_timeout_s=self.idle_timeout_s or IDLE_CONNECTION_TIMEOUT_S,
            )
            urls = await server.start()
        app = create_app(self.backend, lambda: self.endpoints, token=self.control_token)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = next(iter(runner.addresses))[1]
        ca_cert = str(server.ca_cert_path) if server is not None and self.https else None
        self.endpoints = {
            "control": f"http://127.0.0.1:{port}",
            "speed": self.clock.speed,
            "ca_cert": ca_cert,
            "hosts": [
                {
                    "name": name,
                    "site": site_name,
                    "kind": kind,
                    "url": urls.get(name),
                    "username": credentials[name][0],
                    "password": credentials[name][1],
                    # What the host's WinRM service accepts, and the pywinrm transport to use with it.
                    "auth": list(self.auth.schemes),
                    "allow_unencrypted": self.auth.allow_unencrypted,
                    "transport": self.auth.client_transport(self.https),
                    # Plain HTTP is the lab's insecure mode; over HTTPS clients validate with ca_cert.
                    "insecure": not self.https,
                }
                for name, (kind, site_name, _) in specs.items()
            ],
        }
        ticker = asyncio.create_task(self._tick())
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await runner.cleanup()
            if server is not None:
                await server.stop()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            self.backend.sync()


def call_control(
    url: str, token: str, method: str, route: str, body: dict[str, Any] | None = None, timeout: float = 30
) -> Any:
    """One call of a lab's control API (this process's or another's), the JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url + route,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    tmp.replace(path)


def remove_endpoints(path: Path) -> None:
    """Remove the endpoints file and its token (the lab that wrote them has stopped)."""
    for file in (path, token_path(path)):
        with contextlib.suppress(FileNotFoundError):
            file.unlink()


def run_lab(
    topology: Path | None = None,
    *,
    speed: float | None = None,
    endpoints_path: Path | None = None,
    https: bool | None = None,
    auth: AuthPolicy | None = None,
    on_ready: Callable[[Lab, Path], None] | None = None,
) -> None:
    """``hvdr lab up``: serve the lab in the foreground until Ctrl-C (or SIGTERM); remove the endpoints file."""
    lab = Lab(topology, speed=speed, https=https, auth=auth)
    path = endpoints_path or default_endpoints_path()
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    lab.start()
    try:
        lab.write_endpoints(path)
        if on_ready is not None:
            on_ready(lab, path)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()
        remove_endpoints(path)
        signal.signal(signal.SIGTERM, previous)
