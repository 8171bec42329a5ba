"""The lab's WinRM service: one loopback port per host, Negotiate (NTLM, message encryption) and Basic,
optional HTTPS, fault injection.

It only routes: ``auth`` authenticates and (un)seals, ``envelopes`` parses a request, ``shells`` keeps shells and
commands, ``responses`` builds the answer. Faults come from each host's
:meth:`~hvdr.lab.seam.PSHost.wire_faults` and are applied here: ``down`` closes the host's listening socket
(and drops connections kept alive from before), ``latency_s`` delays every request, ``error_rate`` answers that
fraction of requests with HTTP 500 and a WSManFault.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import socket
import ssl
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from hvdr.errors import ConfigError
from hvdr.lab.seam import PSHost
from hvdr.lab.wsman import responses
from hvdr.lab.wsman.auth import AuthPolicy, Granted, HostAuth, Opened, certificate_bindings, write_user_store
from hvdr.lab.wsman.envelopes import (
    ACTION_COMMAND,
    ACTION_CREATE,
    ACTION_DELETE,
    ACTION_RECEIVE,
    ACTION_SEND,
    ACTION_SIGNAL,
    EnvelopeError,
    WSManRequest,
    parse_request,
)
from hvdr.lab.wsman.shells import HostShells, LabCommand
from hvdr.lab.wsman.tls import generate_certificate, server_context

log = logging.getLogger(__name__)

FAULT_POLL_S = 0.05
SHELL_IDLE_TIMEOUT_S = 900.0
IDLE_CONNECTION_TIMEOUT_S = 120.0
"""HTTP.sys closes a connection idle this long (``IdleConnectionTimeout``); its NTLM authentication goes with it."""
OUTPUT_COALESCE_S = 0.02


@dataclass
class _Endpoint:
    name: str
    host: PSHost
    shells: HostShells
    auth: HostAuth
    runner: web.AppRunner | None = None
    site: web.SockSite | None = None
    port: int = 0
    url: str = ""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class WinRMServer:
    """Serve WS-Management for each host on its own loopback port.

    ``credentials`` maps a host name to the (user, password) it accepts; ``auth`` is what every host's WinRM
    service allows (schemes, AllowUnencrypted; see :mod:`hvdr.lab.wsman.auth`). With ``https`` a self-signed
    certificate is generated into ``cert_dir`` (a temporary directory when None); its PEM is
    :attr:`ca_cert_path`, for clients to validate against.
    """

    def __init__(
        self,
        hosts: Mapping[str, PSHost],
        credentials: Mapping[str, tuple[str, str]],
        *,
        https: bool = False,
        cert_dir: Path | None = None,
        bind: str = "127.0.0.1",
        auth: AuthPolicy | None = None,
        idle_timeout_s: float = IDLE_CONNECTION_TIMEOUT_S,
    ) -> None:
        self._hosts = dict(hosts)
        self._idle_timeout_s = idle_timeout_s
        self._credentials = dict(credentials)
        self._https = https
        self.auth = auth or AuthPolicy()
        self._store_dir: Path | None = None
        self._cert_dir = cert_dir
        self._own_cert_dir: Path | None = None
        self._bind = bind
        self._executor: ThreadPoolExecutor | None = None
        self._endpoints: dict[str, _Endpoint] = {}
        self._ssl_context: ssl.SSLContext | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.ca_cert_path: Path | None = None

    @property
    def urls(self) -> dict[str, str]:
        return {name: ep.url for name, ep in self._endpoints.items()}

    async def start(self, ports: Mapping[str, int] | None = None) -> dict[str, str]:
        """Listen for every host (port 0 or absent = any free port); return host name → WS-Man URL."""
        if self._https:
            directory = self._cert_dir
            if directory is None:
                directory = self._own_cert_dir = Path(tempfile.mkdtemp(prefix="hvdr-lab-tls-"))
            cert, key = generate_certificate(directory)
            self.ca_cert_path = cert
            self._ssl_context = server_context(cert, key)
        auths = self._host_auths()
        self._executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="lab-wsman")
        scheme = "https" if self._https else "http"
        for name, host in self._hosts.items():
            endpoint = _Endpoint(name, host, HostShells(host, self._executor), auths[name])
            app = web.Application(client_max_size=4 * 1024 * 1024)
            app.router.add_post("/wsman", self._handler(endpoint))
            endpoint.runner = web.AppRunner(
                app, access_log=None, handle_signals=False, keepalive_timeout=self._idle_timeout_s
            )
            await endpoint.runner.setup()
            endpoint.port = (ports or {}).get(name) or 0
            await self._open(endpoint)
            endpoint.url = f"{scheme}://{self._bind}:{endpoint.port}/wsman"
            self._endpoints[name] = endpoint
        self._watcher = asyncio.create_task(self._watch_faults())
        return self.urls

    def _host_auths(self) -> dict[str, HostAuth]:
        """Each host's authentication; for Negotiate, one NTLM user store (mode 600) per distinct account."""
        bindings = certificate_bindings(self.ca_cert_path) if self.ca_cert_path is not None else None
        stores: dict[tuple[str, str], Path] = {}
        auths: dict[str, HostAuth] = {}
        for name in self._hosts:
            username, password = self._credentials.get(name, ("", ""))
            store = None
            if "negotiate" in self.auth.schemes and username:
                if self._store_dir is None:
                    self._store_dir = Path(tempfile.mkdtemp(prefix="hvdr-lab-ntlm-"))
                store = stores.get((username, password))
                if store is None:
                    try:
                        store = write_user_store(self._store_dir / f"user-{len(stores)}", username, password)
                    except ValueError as exc:
                        raise ConfigError(f"lab host {name}: {exc}") from None
                    stores[(username, password)] = store
            auths[name] = HostAuth(username, password, self.auth, self._https, store, bindings)
        return auths

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        for endpoint in self._endpoints.values():
            endpoint.shells.close()
            if endpoint.runner is not None:
                await endpoint.runner.cleanup()
        self._endpoints.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self._own_cert_dir is not None:
            shutil.rmtree(self._own_cert_dir, ignore_errors=True)
            self._own_cert_dir = None
        if self._store_dir is not None:
            shutil.rmtree(self._store_dir, ignore_errors=True)
            self._store_dir = None

    # -- listening sockets --------------------------------------------------------------------------
    async def _open(self, endpoint: _Endpoint) -> None:
        assert endpoint.runner is not None
        sock = socket.socket(socket.AF_INET6 if ":" in self._bind else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._bind, endpoint.port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        endpoint.port = sock.getsockname()[1]
        endpoint.site = web.SockSite(endpoint.runner, sock, ssl_context=self._ssl_context, backlog=1024)
        await endpoint.site.start()

    async def _watch_faults(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(FAULT_POLL_S)
            ticks += 1
            for endpoint in self._endpoints.values():
                down = endpoint.host.wire_faults().down
                if down and endpoint.site is not None:
                    log.info("lab host %s is down: closing port %d", endpoint.name, endpoint.port)
                    await endpoint.site.stop()
                    endpoint.site = None
                elif not down and endpoint.site is None:
                    try:
                        await self._open(endpoint)
                        log.info("lab host %s is up again on port %d", endpoint.name, endpoint.port)
                    except OSError as exc:
                        log.warning("lab host %s: cannot reopen port %d yet: %s", endpoint.name, endpoint.port, exc)
                if ticks % 200 == 0:
                    endpoint.shells.expire(SHELL_IDLE_TIMEOUT_S)

    # -- requests -----------------------------------------------------------------------------------
    def _handler(self, endpoint: _Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle(endpoint, request)

        return handle

    async def _handle(self, endpoint: _Endpoint, request: web.Request) -> web.StreamResponse:
        faults = endpoint.host.wire_faults()
        if faults.down:
            # A connection kept alive from before the host went down: a dead host answers nothing.
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("lab host is down")
        granted = endpoint.auth.authenticate(request)
        if isinstance(granted, web.Response):
            return granted
        if faults.latency_s > 0:
            await asyncio.sleep(faults.latency_s)
        opened = endpoint.auth.open(granted, request, await request.read())
        if isinstance(opened, web.Response):
            return opened
        reply = _Reply(endpoint.auth, granted, opened)
        if not opened.payload:
            # pywinrm's first, empty message on a new connection sets up encryption: an authenticated 200.
            return reply.ok(b"")
        try:
            wsman = parse_request(opened.payload)
        except EnvelopeError as exc:
            return reply.fault(
                responses.fault(
                    "",
                    code=responses.CODE_BAD_REQUEST,
                    subcode="w:SchemaValidationError",
                    reason=f"The SOAP XML in the message does not match the corresponding XML schema definition: {exc}",
                    machine=endpoint.name,
                    receiver=False,
                )
            )
        if faults.error_rate > 0 and random.random() < faults.error_rate:
            return reply.fault(
                responses.fault(
                    wsman.message_id,
                    code=responses.CODE_INTERNAL_ERROR,
                    subcode="w:InternalError",
                    reason="The WS-Management service cannot process the request "
                    "because of an internal error (lab fault injection).",
                    machine=endpoint.name,
                )
            )
        return await self._dispatch(endpoint, wsman, request, reply)

    async def _dispatch(
        self, endpoint: _Endpoint, req: WSManRequest, request: web.Request, reply: _Reply
    ) -> web.Response:
        shells = endpoint.shells
        if req.action == ACTION_CREATE:
            shell = shells.create(req.codepage)
            return reply.ok(responses.create_response(req.message_id, shell.id, endpoint.url))
        found = shells.get(req.shell_id)
        if found is None:
            return reply.fault(responses.shell_not_found_fault(req.message_id, req.shell_id or "", endpoint.name))
        shell = found
        if req.action == ACTION_DELETE:
            shells.delete(shell.id)
            return reply.ok(responses.delete_response(req.message_id))
        if req.action == ACTION_COMMAND:
            command = shells.new_command(shell)
            response = reply.ok(responses.command_response(req.message_id, command.id))
            try:
                # Answer first, then start the script: the client prepares its Receive while the script
                # runs, instead of the script's worker thread holding the GIL while this answer is written.
                await response.prepare(request)
                await response.write_eof()
            finally:
                shells.run(command, req.command, req.arguments, req.skip_cmd_shell)
            return response
        cmd = shell.commands.get((req.command_id or "").upper())
        if cmd is None:
            return reply.fault(
                responses.fault(
                    req.message_id,
                    code=responses.CODE_INVALID_COMMAND_ID,
                    subcode="w:InvalidSelectors",
                    reason=f"The command with CommandId {req.command_id} was not found.",
                    machine=endpoint.name,
                    receiver=False,
                )
            )
        if req.action == ACTION_SIGNAL:
            cmd.cancelled.set()
            shell.commands.pop(cmd.id, None)
            return reply.ok(responses.signal_response(req.message_id))
        if req.action == ACTION_SEND:
            return reply.ok(responses.send_response(req.message_id))
        if req.action == ACTION_RECEIVE:
            return await self._receive(endpoint, req, cmd, reply)
        return reply.fault(
            responses.fault(
                req.message_id,
                code=responses.CODE_BAD_REQUEST,
                subcode="a:ActionNotSupported",
                reason=f"The action {req.action} is not supported by the service.",
                machine=endpoint.name,
                receiver=False,
            )
        )

    async def _receive(self, endpoint: _Endpoint, req: WSManRequest, cmd: LabCommand, reply: _Reply) -> web.Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + req.operation_timeout_s
        cmd.watch()
        try:
            while True:
                cmd.changed.clear()
                if cmd.has_output() and not cmd.done:
                    # Like the WinRM service, gather output for a moment: a script that is about to end then
                    # answers Done in this Receive instead of Running now and Done in the next.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(OUTPUT_COALESCE_S):
                            await cmd.wait_done()
                chunk = cmd.take()
                if chunk is not None:
                    return reply.ok(responses.receive_response(req.message_id, cmd.id, chunk))
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return reply.fault(responses.operation_timeout_fault(req.message_id, endpoint.name))
                # asyncio.timeout rather than wait_for: no task per wait on the hot path.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await cmd.changed.wait()
        finally:
            cmd.unwatch()


@dataclass
class _Reply:
    """Answers to one request: HTTP 200 or a SOAP fault's 500, sealed when the request came sealed."""

    auth: HostAuth
    granted: Granted
    opened: Opened

    def ok(self, payload: bytes) -> web.Response:
        return self.auth.answer(self.granted, self.opened, 200, payload)

    def fault(self, payload: bytes) -> web.Response:
        return self.auth.answer(self.granted, self.opened, 500, payload)
