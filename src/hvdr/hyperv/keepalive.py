"""pywinrm's ``Transport`` on one kept-alive ``http.client`` connection, for Basic and certificate auth.

pywinrm sends every message through a requests ``Session``: preparing the request, merging settings, hooks,
the adapter and urllib3's pool and retry objects cost about 0.4 ms of CPU a message, more than a fast host
takes to answer, and three messages make every command (Command, Receive, Signal). Basic and certificate
authentication need none of it: the credential is one fixed header, or the client certificate of the TLS
handshake. :class:`KeepAliveTransport` sends those messages on a standard-library connection instead;
NTLM, Kerberos and CredSSP (handshakes and message encryption) and proxies stay on pywinrm's session.

The contract is pywinrm's ``Transport.send_message``: the body of a 2xx answer; ``InvalidCredentialsError``
on 401; ``WinRMTransportError("http", status, text)`` on any other status (``Protocol.send_message`` turns
SOAP faults into ``WSManFaultError``); and connection problems as the requests exceptions pywinrm's own
transport lets through (``ConnectionError``, ``ConnectTimeout``, ``ReadTimeout``, ``SSLError``), so that
:func:`~hvdr.hyperv.errors.map_winrm_errors` reads both transports the same way. TLS is validated as
requests validates it: against ``ca_trust_path`` when given, otherwise certifi's bundle, with the host
name checked. A connection the server closed while idle is noticed before it is reused (as urllib3 does)
and replaced; a message is never sent twice.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import ssl
from typing import Literal
from urllib.parse import urlsplit

import certifi
import requests.exceptions
from winrm.exceptions import InvalidCredentialsError, WinRMTransportError
from winrm.transport import Transport

# pywinrm's Transport.default_headers, and the header its certificate auth adds.
_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
_USER_AGENT = "Python WinRM client"
MUTUAL_TLS_AUTHORIZATION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"


class KeepAliveTransport(Transport):
    """Drop-in for ``protocol.transport`` when the auth method is ``basic`` or ``certificate``."""

    def __init__(
        self,
        endpoint: str,
        *,
        auth_method: Literal["basic", "certificate"],
        username: str | None = None,
        password: str | None = None,
        cert_pem: str | None = None,
        cert_key_pem: str | None = None,
        ca_trust_path: str | None = None,
        read_timeout_sec: int = 30,
    ) -> None:
        # pywinrm's own checks: a username and password for Basic, existing PEM files for certificates.
        super().__init__(
            endpoint=endpoint,
            username=username,
            password=password,
            auth_method=auth_method,
            cert_pem=cert_pem,
            cert_key_pem=cert_key_pem,
            read_timeout_sec=read_timeout_sec,
            server_cert_validation="validate",
            message_encryption="never",
        )
        parts = urlsplit(endpoint)
        self._https = parts.scheme.lower() == "https"
        self._address = (parts.hostname or "", parts.port or (443 if self._https else 80))
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": _CONTENT_TYPE, "User-Agent": _USER_AGENT}
        if auth_method == "certificate":
            self._headers["Authorization"] = MUTUAL_TLS_AUTHORIZATION
        else:
            self._headers["Authorization"] = _basic_authorization(username or "", password or "")
        self._context: ssl.SSLContext | None = None
        if self._https:
            self._context = ssl.create_default_context(cafile=ca_trust_path or certifi.where())
            if auth_method == "certificate":
                self._context.load_cert_chain(str(cert_pem), str(cert_key_pem))
        self._connection: http.client.HTTPConnection | None = None

    def build_session(self) -> requests.Session:
        raise NotImplementedError("KeepAliveTransport sends without a requests session")

    def send_message(self, message: str | bytes) -> bytes:
        body = message.encode("utf-8") if isinstance(message, str) else message
        connection = self._connect()
        try:
            connection.request("POST", self._path, body=body, headers=self._headers)
            response = connection.getresponse()
            data = response.read()
        except BaseException as exc:
            self.close_session()
            _raise_as_requests(exc, connecting=False)
            raise
        if response.will_close:
            self.close_session()
        if response.status == 401:
            raise InvalidCredentialsError("the specified credentials were rejected by the server")
        if not 200 <= response.status < 300:
            raise WinRMTransportError("http", response.status, data.decode("utf-8", errors="replace"))
        return data

    def close_session(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _connect(self) -> http.client.HTTPConnection:
        connection = self._connection
        if connection is not None and _dropped(connection):
            self.close_session()
            connection = None
        if connection is None:
            host, port = self._address
            timeout = self.read_timeout_sec
            if self._context is not None:
                connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._context)
            else:
                connection = http.client.HTTPConnection(host, port, timeout=timeout)
            try:
                connection.connect()
            except BaseException as exc:
                connection.close()
                _raise_as_requests(exc, connecting=True)
                raise
            # http.client writes the headers and the body separately: without this, Nagle holds the body back
            # until the headers are acknowledged (urllib3, under requests, sets it too).
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connection = connection
        return connection


def _basic_authorization(username: str, password: str) -> str:
    """The Basic header as requests builds it (latin-1 where it can, UTF-8 otherwise)."""
    raw = f"{username}:{password}"
    try:
        encoded = raw.encode("latin-1")
    except UnicodeEncodeError:
        encoded = raw.encode("utf-8")
    return "Basic " + base64.b64encode(encoded).decode("ascii")


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """True when an idle kept-alive socket is readable: the server closed it (or sent what no one asked)."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):  # no FD_SETSIZE limit: a worker may hold thousands of connections
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _raise_as_requests(exc: BaseException, *, connecting: bool) -> None:
    """Re-raise a socket, TLS or HTTP-framing error as the requests exception pywinrm would let through."""
    if isinstance(exc, ssl.SSLError):
        raise requests.exceptions.SSLError(str(exc)) from exc
    if isinstance(exc, TimeoutError):
        if connecting:
            raise requests.exceptions.ConnectTimeout(str(exc) or "connect timed out") from exc
        raise requests.exceptions.ReadTimeout(str(exc) or "read timed out") from exc
    if isinstance(exc, (OSError, http.client.HTTPException)):
        raise requests.exceptions.ConnectionError(str(exc) or type(exc).__name__) from exc
