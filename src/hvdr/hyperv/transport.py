"""The seam between the driver and the wire: ``run(script) -> PSResult`` and ``close()``.

:class:`WinRMTransport` runs scripts on pywinrm's ``Protocol`` in shells opened with code page 65001
(UTF-8), kept open and reused (each with its own HTTP keep-alive connection: for Basic and certificate auth a
:class:`~hvdr.hyperv.keepalive.KeepAliveTransport`, otherwise pywinrm's requests session), up to
``max_shells`` at a time for concurrent callers. The Command and Receive envelopes of every script come from templates
(:mod:`hvdr.hyperv.wsman`, same messages as pywinrm's) and go through pywinrm's ``send_message``.
It polls Receive itself rather than calling ``get_command_output`` (which retries OperationTimeout
forever): a command still running at its budget is terminated (Signal).

Before the Command message leaves, a failure is what it says (host unreachable, …): nothing ran. From the
moment it may have reached the host, every failure is :class:`~hvdr.hyperv.errors.OutcomeUnknown` (read
timeout, connection lost, budget exceeded, aborted): the caller must read the state back before sending
again. A caller in another thread stops a running command with :func:`hvdr.hyperv.abort.abort_scope`: it is
terminated after the Receive in flight (at most ``operation_timeout_s``).

:class:`MockTransport` wraps a plain handler for unit tests.
"""

from __future__ import annotations

import errno
import logging
import math
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests.exceptions
import urllib3.exceptions
import winrm.exceptions as winrm_exc
from winrm.protocol import Protocol

from hvdr.hyperv.abort import abort_requested
from hvdr.hyperv.connection import HostConnection, TransportKind
from hvdr.hyperv.errors import WSMAN_SHELL_NOT_FOUND, HyperVError, OutcomeUnknown, WinRMTimeout, map_winrm_errors
from hvdr.hyperv.keepalive import KeepAliveTransport
from hvdr.hyperv.scripts import encoded_command
from hvdr.hyperv.wsman import cleanup_command, get_command_output_raw, run_command

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PSResult:
    stdout: str
    stderr: str
    exit_code: int


class HyperVTransport:
    """Runs one PowerShell script on one host."""

    host: str = "host"

    def run(self, script: str, *, timeout: float | None = None) -> PSResult:
        raise NotImplementedError

    def close(self) -> None:
        """Release shells and connections; the transport may not be used afterwards."""

    def __enter__(self) -> HyperVTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class MockTransport(HyperVTransport):
    """Answers every script with ``handler(script)``; records the scripts it was given."""

    def __init__(self, handler: Callable[[str], PSResult], host: str = "mock-host") -> None:
        self.handler = handler
        self.host = host
        self.scripts: list[str] = []
        self.closed = False

    def run(self, script: str, *, timeout: float | None = None) -> PSResult:
        if self.closed:
            raise RuntimeError("transport is closed")
        self.scripts.append(script)
        return self.handler(script)

    def close(self) -> None:
        self.closed = True


@dataclass
class _Progress:
    sent: bool = False
    """The Command message may have reached the host: from here on, a failure leaves the outcome unknown."""


_NOT_CONNECTED = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH}


def _never_sent(exc: BaseException) -> bool:
    """The request failed while connecting (refused, no route, DNS, connect timeout): nothing reached the host."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (requests.exceptions.ConnectTimeout, urllib3.exceptions.NewConnectionError)):
            return True
        if isinstance(seen, socket.gaierror) or (isinstance(seen, OSError) and seen.errno in _NOT_CONNECTED):
            return True
        reason = getattr(seen, "reason", None)  # urllib3's MaxRetryError, inside requests' ConnectionError
        if isinstance(reason, BaseException) and _never_sent(reason):
            return True
        args = getattr(seen, "args", ())
        if args and isinstance(args[0], BaseException) and args[0] is not seen and _never_sent(args[0]):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _without_host(message: str, host: str) -> str:
    prefix = f"{host}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").lstrip("\ufeff")


IDLE_REAUTH_S = 60.0
"""A sealed (NTLM/Kerberos over HTTP) channel idle longer than this authenticates again before its next message.
The host drops an idle connection (HTTP.sys: 120 s) and with it the connection's authentication; requests-ntlm
would then authenticate a new connection but resend the message sealed with the old session, which the host
cannot unseal (HTTP 400 in the lab). The shell itself outlives the connection and is kept."""


class _Channel:
    """One pywinrm Protocol (one HTTP session) with one open shell."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.shell_id: str | None = None
        self.used_at = time.monotonic()

    def ensure_shell(self) -> str:
        if self.shell_id is None:
            self.shell_id = self.protocol.open_shell(codepage=65001, noprofile=True)
        return self.shell_id

    def close(self) -> None:
        try:
            if self.shell_id is not None:
                self.protocol.close_shell(self.shell_id)
        except Exception as exc:  # best effort: the shell may already be gone
            log.debug("closing shell failed: %s", type(exc).__name__)
        finally:
            self.shell_id = None
            self.protocol.transport.close_session()


class WinRMTransport(HyperVTransport):
    def __init__(self, connection: HostConnection) -> None:
        self._connection = connection
        self.host = connection.name
        self._idle: list[_Channel] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(connection.endpoint.max_shells)
        self._closed = False
        self._pending: queue.Queue[tuple[_Channel, str, str] | None] = queue.Queue()
        self._cleaner: threading.Thread | None = None

    def _protocol(self) -> Protocol:
        ep = self._connection.endpoint
        cred = self._connection.credential
        kwargs: dict[str, Any] = {
            "transport": str(ep.transport),
            "username": cred.username if cred else None,
            "password": cred.password.get_secret_value() if cred else None,
            "server_cert_validation": "validate",
            "ca_trust_path": str(ep.ca_path) if ep.ca_path else None,
            "read_timeout_sec": ep.read_timeout_s,
            "operation_timeout_sec": ep.operation_timeout_s,
            "proxy": ep.proxy,
        }
        if ep.transport is TransportKind.CERTIFICATE:
            kwargs["cert_pem"] = str(ep.client_cert_pem)
            kwargs["cert_key_pem"] = str(ep.client_key_pem)
        if self._sealed():
            kwargs["message_encryption"] = "always"
        protocol = Protocol(ep.url, **kwargs)
        if ep.transport in (TransportKind.BASIC, TransportKind.CERTIFICATE) and ep.proxy is None:
            protocol.transport = KeepAliveTransport(
                ep.url,
                auth_method="basic" if ep.transport is TransportKind.BASIC else "certificate",
                username=kwargs["username"],
                password=kwargs["password"],
                cert_pem=kwargs.get("cert_pem"),
                cert_key_pem=kwargs.get("cert_key_pem"),
                ca_trust_path=kwargs["ca_trust_path"],
                read_timeout_sec=ep.read_timeout_s,
            )
        else:
            # Proxy and CA come from the endpoint, never from the environment: without this, requests scans
            # os.environ for proxy settings on every message (about a millisecond each).
            protocol.transport.build_session().trust_env = False
        return protocol

    def _sealed(self) -> bool:
        ep = self._connection.endpoint
        return ep.url.lower().startswith("http:") and ep.transport in (TransportKind.NTLM, TransportKind.KERBEROS)

    def _acquire(self) -> _Channel:
        self._slots.acquire()
        with self._lock:
            if self._idle:
                channel = self._idle.pop()
                if self._sealed() and time.monotonic() - channel.used_at > IDLE_REAUTH_S:
                    channel.protocol.transport.close_session()  # the next message builds and authenticates anew
                return channel
        try:
            with map_winrm_errors(self.host, operation="connect"):
                return _Channel(self._protocol())
        except BaseException:
            self._slots.release()
            raise

    def _release(self, channel: _Channel, *, healthy: bool) -> None:
        channel.used_at = time.monotonic()
        if healthy and not self._closed:
            with self._lock:
                self._idle.append(channel)
        else:
            channel.close()
        self._slots.release()

    def run(self, script: str, *, timeout: float | None = None) -> PSResult:
        if self._closed:
            raise RuntimeError("transport is closed")
        budget = timeout if timeout is not None else self._connection.endpoint.command_timeout_s
        command = encoded_command(script)
        started = time.monotonic()
        channel = self._acquire()
        finished: tuple[PSResult, str, str] | None = None
        progress = _Progress()
        try:
            try:
                with map_winrm_errors(self.host, operation="run"):
                    finished = self._run_on(channel, command, started + budget, progress)
            except HyperVError as error:
                if progress.sent and not isinstance(error, OutcomeUnknown):
                    raise OutcomeUnknown(
                        f"the command was sent, then: {_without_host(error.message, self.host)}; it may have run",
                        host=self.host,
                    ) from None
                raise
            return finished[0]
        finally:
            if finished is None:
                self._release(channel, healthy=False)
            else:
                # The caller has its answer; the command's Signal (terminate, which frees it on the host)
                # is sent in the background before the shell is reused.
                self._cleanup(channel, finished[1], finished[2])
            log.debug(
                "host=%s script_chars=%d elapsed_ms=%.1f ok=%s",
                self.host,
                len(script),
                (time.monotonic() - started) * 1000,
                finished is not None,
            )

    def _cleanup(self, channel: _Channel, shell_id: str, command_id: str) -> None:
        with self._lock:
            if self._cleaner is None:
                self._cleaner = threading.Thread(
                    target=self._cleanup_loop, name=f"winrm-signal-{self.host}", daemon=True
                )
                self._cleaner.start()
        self._pending.put((channel, shell_id, command_id))

    def _cleanup_loop(self) -> None:
        while True:
            item = self._pending.get()
            if item is None:
                return
            channel, shell_id, command_id = item
            try:
                cleanup_command(channel.protocol, shell_id, command_id)
                healthy = True
            except Exception as exc:
                log.debug("host=%s signal failed: %s", self.host, type(exc).__name__)
                healthy = False
            self._release(channel, healthy=healthy)

    def _run_on(
        self, channel: _Channel, command: str, deadline: float, progress: _Progress
    ) -> tuple[PSResult, str, str]:
        protocol = channel.protocol
        abort = abort_requested()
        if abort is not None and abort.is_set():
            raise WinRMTimeout("the caller gave up before the command was sent; nothing ran", host=self.host)
        try:
            shell_id = channel.ensure_shell()
            command_id = self._send(protocol, shell_id, command, progress)
        except winrm_exc.WSManFaultError as exc:
            if exc.wsman_fault_code != WSMAN_SHELL_NOT_FOUND:
                raise
            # The service dropped an idle shell (it refused the command, which did not run): open one once.
            channel.shell_id = None
            shell_id = channel.ensure_shell()
            command_id = self._send(protocol, shell_id, command, progress)
        progress.sent = True
        stdout: list[bytes] = []
        stderr: list[bytes] = []
        operation_timeout = self._connection.endpoint.operation_timeout_s
        while True:
            # Each Receive waits at most until the budget ends (whole seconds, as w:OperationTimeout is sent).
            remaining = deadline - time.monotonic()
            protocol.operation_timeout_sec = max(1, min(operation_timeout, math.ceil(remaining)))
            try:
                out, err, code, done = get_command_output_raw(protocol, shell_id, command_id)
            except winrm_exc.WinRMOperationTimeoutError:
                out, err, code, done = b"", b"", -1, False
            stdout.append(out)
            stderr.append(err)
            if done:
                break
            if abort is not None and abort.is_set():
                self._terminate(protocol, shell_id, command_id)
                raise OutcomeUnknown("the caller gave up while the command ran; it was terminated", host=self.host)
            if time.monotonic() >= deadline:
                self._terminate(protocol, shell_id, command_id)
                raise OutcomeUnknown(
                    "the command was still running at its time budget and was terminated", host=self.host
                )
        return PSResult(_decode(b"".join(stdout)), _decode(b"".join(stderr)), code), shell_id, command_id

    def _send(self, protocol: Protocol, shell_id: str, command: str, progress: _Progress) -> str:
        """The Command message: a failure to connect means it never left; any later one may follow its arrival."""
        try:
            return run_command(protocol, shell_id, command)
        except (requests.exceptions.RequestException, ConnectionError) as exc:
            progress.sent = not _never_sent(exc)
            raise

    def _terminate(self, protocol: Protocol, shell_id: str, command_id: str) -> None:
        try:
            protocol.cleanup_command(shell_id, command_id)
        except Exception as exc:
            log.debug("terminating command failed: %s", type(exc).__name__)

    def close(self) -> None:
        self._closed = True
        if self._cleaner is not None:
            self._pending.put(None)
            self._cleaner.join(timeout=self._connection.endpoint.read_timeout_s + 5)
        with self._lock:
            channels, self._idle = self._idle, []
        for channel in channels:
            channel.close()
