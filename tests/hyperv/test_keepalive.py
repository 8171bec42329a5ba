"""KeepAliveTransport behaves as pywinrm's requests Transport does, message for message and error for error.

Each case runs both transports against the same small HTTP(S) server, so "the same as pywinrm" is checked
rather than assumed; the lab tests (HTTP and HTTPS) then run the whole driver on it.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests.auth
import winrm.exceptions as winrm_exc
from winrm.protocol import Protocol
from winrm.transport import Transport

from hvdr.hyperv.errors import AuthenticationFailed, HostUnreachable, WinRMTimeout, map_winrm_errors
from hvdr.hyperv.keepalive import MUTUAL_TLS_AUTHORIZATION, KeepAliveTransport
from hvdr.lab.wsman.tls import generate_certificate

USER, PASSWORD = "lab\\admin", "pa:ss wörd"
FAULT = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"><s:Body><s:Fault>'
    b"<s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:InternalError</s:Value></s:Subcode></s:Code>"
    b'<s:Reason><s:Text xml:lang="en-US">boom</s:Text></s:Reason>'
    b'<s:Detail><f:WSManFault Code="2147500037" Machine="h"><f:Message>boom</f:Message></f:WSManFault>'
    b"</s:Detail></s:Fault></s:Body></s:Envelope>"
)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """Answers each POST with ``status`` and ``body``; records what arrived and how many connections."""

    url: str
    status: int = 200
    body: bytes = b"<ok/>"
    close_after_response: bool = False
    connection_close_header: bool = False
    silent: bool = False
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    closed: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            server.connections += 1
            super().setup()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            server.received.append(Received(dict(self.headers.items()), self.rfile.read(length)))
            if server.silent:
                threading.Event().wait(3)
                self.close_connection = True
                return
            self.send_response(server.status)
            self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
            self.send_header("Content-Length", str(len(server.body)))
            if server.connection_close_header:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(server.body)
            self.wfile.flush()
            if server.close_after_response:
                self.close_connection = True  # without saying so: the client finds out when it comes back

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _HTTPServer(ThreadingHTTPServer):
    recorder: Server

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.recorder.closed.release()  # the socket is closed: the client can see it now


def _serve(context: ssl.SSLContext | None = None) -> Iterator[Server]:
    httpd = _HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    scheme = "https" if context else "http"
    server = Server(url=f"{scheme}://127.0.0.1:{httpd.server_address[1]}/wsman")
    httpd.RequestHandlerClass = _handler(server)
    httpd.recorder = server
    httpd.daemon_threads = True
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve()


def _ours(url: str, **kwargs: Any) -> KeepAliveTransport:
    kwargs.setdefault("username", USER)
    kwargs.setdefault("password", PASSWORD)
    return KeepAliveTransport(url, auth_method=kwargs.pop("auth_method", "basic"), **kwargs)


def _theirs(url: str, **kwargs: Any) -> Transport:
    """pywinrm's own transport, configured as hvdr configured it before (no proxy, no environment)."""
    transport = Transport(
        endpoint=url,
        username=USER,
        password=PASSWORD,
        auth_method="basic",
        server_cert_validation="validate",
        message_encryption="never",
        **kwargs,
    )
    transport.build_session().trust_env = False
    return transport


def test_messages_share_one_connection_and_carry_pywinrms_headers(server: Server) -> None:
    ours = _ours(server.url)
    assert ours.send_message("<first/>") == b"<ok/>"
    assert ours.send_message(b"<second/>") == b"<ok/>"
    ours.close_session()
    assert server.connections == 1
    assert [r.body for r in server.received] == [b"<first/>", b"<second/>"]
    theirs = _theirs(server.url)
    theirs.send_message("<third/>")
    ours_headers, theirs_headers = server.received[0].headers, server.received[2].headers
    for name in ("Authorization", "Content-Type", "User-Agent", "Content-Length"):
        assert ours_headers[name] == theirs_headers[name], name
    assert ours_headers["Authorization"] == requests.auth._basic_auth_str(USER, PASSWORD)


@pytest.mark.parametrize("how", ["closed without a word", "Connection: close"])
def test_a_connection_the_server_closed_is_replaced_and_nothing_is_sent_twice(server: Server, how: str) -> None:
    server.close_after_response = how == "closed without a word"
    server.connection_close_header = how == "Connection: close"
    ours = _ours(server.url)
    for n in range(3):
        assert ours.send_message(f"<m{n}/>") == b"<ok/>"
        assert server.closed.acquire(timeout=5)  # the server has hung up before the next message
    assert server.connections == 3
    assert [r.body for r in server.received] == [b"<m0/>", b"<m1/>", b"<m2/>"]


def test_a_connection_is_reused_whatever_its_file_descriptor_number(server: Server) -> None:
    """A worker with hundreds of hosts holds more than select()'s 1,024 descriptors."""
    import os
    import resource

    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1200:
        pytest.skip("needs a descriptor limit above 1,200 (ulimit -n)")
    read_end, write_end = os.pipe()
    filler = [os.dup(read_end) for _ in range(1100)]
    try:
        ours = _ours(server.url)
        assert [ours.send_message(f"<m{n}/>") for n in range(3)] == [b"<ok/>"] * 3
        assert ours._connection is not None and ours._connection.sock.fileno() > 1024
        ours.close_session()
    finally:
        for fd in (*filler, read_end, write_end):
            os.close(fd)
    assert server.connections == 1


def _outcome(send: Callable[[], bytes]) -> tuple[type[BaseException], dict[str, Any]] | bytes:
    try:
        return send()
    except Exception as exc:  # the exception itself is what is compared
        return type(exc), vars(exc)


@pytest.mark.parametrize(
    ("status", "body"),
    [(401, b""), (500, FAULT), (503, b""), (500, b"<html>oops</html>"), (404, b"not here"), (204, b"")],
)
def test_statuses_raise_exactly_what_pywinrm_raises(server: Server, status: int, body: bytes) -> None:
    server.status, server.body = status, body
    results = []
    for transport in (_theirs(server.url), _ours(server.url)):
        protocol = Protocol(server.url, transport="basic", username=USER, password=PASSWORD)
        protocol.transport = transport
        results.append(_outcome(lambda protocol=protocol: protocol.send_message("<m/>")))
    assert results[1] == results[0]


def _driver_error(transport: Transport) -> tuple[type[BaseException], str]:
    with pytest.raises(Exception) as caught, map_winrm_errors("hv-1"):
        transport.send_message("<m/>")
    return type(caught.value), str(caught.value)


def test_connection_refused_is_the_same_host_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/wsman"  # bound, never listening: refused
        ours, theirs = _driver_error(_ours(url)), _driver_error(_theirs(url))
    assert ours[0] is theirs[0] is HostUnreachable
    assert "Connection refused" in ours[1] and "Connection refused" in theirs[1]


def test_no_answer_within_the_read_timeout_is_a_winrm_timeout(server: Server) -> None:
    server.silent = True
    ours = _driver_error(_ours(server.url, read_timeout_sec=1))
    theirs = _driver_error(_theirs(server.url, read_timeout_sec=1))
    assert ours == theirs
    assert ours[0] is WinRMTimeout and "read timeout" in ours[1]


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, Path]:
    return generate_certificate(tmp_path / "server")


def test_https_is_validated_against_the_given_ca(tls: tuple[Path, Path]) -> None:
    cert, key = tls
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    for server in _serve(context):
        trusted = _ours(server.url, ca_trust_path=str(cert))
        assert [trusted.send_message(f"<m{n}/>") for n in range(3)] == [b"<ok/>"] * 3
        assert server.connections == 1  # TLS session tickets are not mistaken for a closed connection
        ours = _driver_error(_ours(server.url))  # certifi's bundle does not know the lab's certificate
        theirs = _driver_error(_theirs(server.url))
        assert ours[0] is theirs[0] is AuthenticationFailed
        assert "certificate" in ours[1] and "CERTIFICATE_VERIFY_FAILED" in ours[1]


def test_certificate_auth_presents_the_client_certificate(tls: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = tls
    client_cert, client_key = generate_certificate(tmp_path / "client", "hvdr-operator", stem="client", client=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(client_cert))
    context.verify_mode = ssl.CERT_REQUIRED  # the handshake fails without the client's certificate
    context.load_cert_chain(str(cert), str(key))
    for server in _serve(context):
        ours = _ours(
            server.url,
            auth_method="certificate",
            username=None,
            password=None,
            cert_pem=str(client_cert),
            cert_key_pem=str(client_key),
            ca_trust_path=str(cert),
        )
        assert ours.send_message("<m/>") == b"<ok/>"
        assert server.received[-1].headers["Authorization"] == MUTUAL_TLS_AUTHORIZATION
        without = _ours(server.url, ca_trust_path=str(cert))
        assert _driver_error(without)[0] in (HostUnreachable, AuthenticationFailed)
        assert len(server.received) == 1


def test_pywinrms_own_checks_still_apply(tmp_path: Path) -> None:
    with pytest.raises(winrm_exc.InvalidCredentialsError, match="requires a username"):
        KeepAliveTransport("http://h:5985/wsman", auth_method="basic", password="x")
    with pytest.raises(winrm_exc.InvalidCredentialsError, match="cert_pem file not found"):
        KeepAliveTransport(
            "https://h:5986/wsman",
            auth_method="certificate",
            cert_pem=str(tmp_path / "missing.pem"),
            cert_key_pem=str(tmp_path / "missing.key"),
        )


def test_the_driver_uses_it_only_where_no_handshake_or_proxy_is_involved(tmp_path: Path) -> None:
    from hvdr.hyperv.connection import HostConnection
    from hvdr.hyperv.transport import WinRMTransport

    def transport_of(**settings: Any) -> Transport:
        connection = HostConnection.basic("hv-1", "https://hv-1:5986/wsman", USER, PASSWORD, **settings)
        return WinRMTransport(connection)._protocol().transport

    assert type(transport_of()) is KeepAliveTransport
    assert type(transport_of(proxy="http://proxy:3128")) is Transport
    assert type(transport_of(transport="ntlm")) is Transport
