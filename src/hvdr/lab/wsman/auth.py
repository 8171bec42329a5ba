"""WinRM authentication as a Windows host's WinRM service does it: Negotiate (NTLM) with message encryption, Basic.

- **Negotiate**: the three legs of NTLM on one kept-alive connection (request → ``401 WWW-Authenticate:
  Negotiate`` → NEGOTIATE token → ``401 Negotiate <CHALLENGE>`` → AUTHENTICATE token → the request is served).
  The connection then stays authenticated: later requests on it carry no ``Authorization`` header. Raw NTLM
  tokens (what requests-ntlm, hence pywinrm, sends) and SPNEGO-wrapped ones are both accepted. pyspnego is the
  acceptor; its NTLM user store is a file of ``DOMAIN:USER:PASSWORD`` lines named by ``NTLM_USER_FILE``.
- **Message encryption** (MS-WSMV 2.2.9.1.1): a body ``multipart/encrypted;protocol="application/HTTP-SPNEGO-
  session-encrypted"`` is sealed with the connection's NTLM session; the answer to a sealed request is sealed the
  same way (faults included). The framing is byte for byte what pywinrm's ``winrm/encryption.py`` builds and parses.
- **Basic** (``Basic realm="WSMAN"``) where the host allows it.
- ``AllowUnencrypted = false``, Windows' default, on plain HTTP: Basic is refused with 401 and a Negotiate-
  authenticated request whose body is not sealed gets HTTP 500 with an empty body, what pywinrm, winrm4j and
  Metasploit users report from real hosts (diyan/pywinrm#129, #185, #208; cloudsoft/winrm4j#151;
  rapid7/metasploit-framework#8900). Over HTTPS the TLS channel is the encryption and bodies are plain SOAP.
- Over HTTPS, NTLM's channel binding token (``tls-server-end-point``, RFC 5929) must match the listener's
  certificate. The lab checks it as ``CbtHardeningLevel = Strict`` does: requests-ntlm always sends one.

Kerberos and CredSSP are not served: they need a KDC and a TLS-in-HTTP handshake the lab does not have.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import os
import re
import struct
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import spnego
import spnego.exceptions
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from multidict import CIMultiDict
from spnego.channel_bindings import GssChannelBindings

PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
ENCRYPTED_CONTENT_TYPE = f'multipart/encrypted;protocol="{PROTOCOL}";boundary="Encrypted Boundary"'
SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
_BOUNDARY = b"--Encrypted Boundary"
_LENGTH = re.compile(rb"Length=(\d+)")
_NTLM_SIGNATURE = 16

NEGOTIATE = "negotiate"
BASIC = "basic"
SCHEMES = (NEGOTIATE, BASIC)


@dataclass(frozen=True)
class AuthPolicy:
    """What a host's WinRM service accepts (``winrm/config/service``): its ``Auth`` schemes and
    ``AllowUnencrypted``. The lab's default serves both schemes and allows unencrypted bodies, so plain Basic
    over HTTP keeps working; :meth:`windows_default` is a freshly installed host (Negotiate, encrypted)."""

    schemes: tuple[str, ...] = SCHEMES
    allow_unencrypted: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.schemes) - set(SCHEMES)
        if unknown or not self.schemes:
            raise ValueError(f"WinRM auth schemes must be among {', '.join(SCHEMES)}; got {', '.join(self.schemes)}")

    @classmethod
    def windows_default(cls) -> AuthPolicy:
        return cls(schemes=(NEGOTIATE,), allow_unencrypted=False)

    def basic_allowed(self, https: bool) -> bool:
        return BASIC in self.schemes and (https or self.allow_unencrypted)

    def client_transport(self, https: bool) -> str:
        """The pywinrm transport name a client of this listener uses (written to the lab's endpoints file)."""
        if self.basic_allowed(https):
            return "ssl" if https else "basic"
        return "ntlm"


# pyspnego's NTLM acceptor reads its user store from the environment at each step; one lock keeps two lab
# hosts with different stores (or two labs in one test process) from reading each other's.
_STORE_LOCK = threading.Lock()


@contextlib.contextmanager
def _user_store(path: Path) -> Iterator[None]:
    with _STORE_LOCK:
        previous = os.environ.get("NTLM_USER_FILE")
        os.environ["NTLM_USER_FILE"] = str(path)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = previous


def write_user_store(path: Path, username: str, password: str) -> Path:
    """An ``NTLM_USER_FILE`` holding one account (mode 600); ``DOMAIN\\user`` or ``user@domain`` or ``user``."""
    if ":" in username + password or "\n" in username + password:
        raise ValueError(f"the lab's NTLM store cannot hold account {username!r}: ':' or a newline in it")
    domain, _, user = username.rpartition("\\")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{domain}:{user}:{password}\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def certificate_bindings(cert_pem: Path) -> GssChannelBindings:
    """The ``tls-server-end-point`` channel binding of a listener's certificate, as requests-ntlm computes it."""
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(cert.public_bytes(serialization.Encoding.DER))
    return GssChannelBindings(application_data=b"tls-server-end-point:" + digest.finalize())


@dataclass
class _Connection:
    context: spnego.ContextProxy
    complete: bool = False


@dataclass(frozen=True)
class Granted:
    """An authenticated request: ``session`` seals and unseals when Negotiate authenticated its connection."""

    session: spnego.ContextProxy | None = None
    token: bytes | None = None
    """A last Negotiate token for the client (SPNEGO's mechListMIC), sent on the answer."""


@dataclass
class Opened:
    """A request body after authentication: the SOAP text, and whether the answer must be sealed."""

    payload: bytes
    sealed: bool = False


class EncryptionError(ValueError):
    """A sealed body that does not unseal: bad framing, a wrong signature, a length that does not match."""


@dataclass
class HostAuth:
    """One host's WinRM authentication: its account, the service's policy, and the state of each connection."""

    username: str
    password: str
    policy: AuthPolicy
    https: bool
    user_store: Path | None = None
    bindings: GssChannelBindings | None = None
    _connections: weakref.WeakKeyDictionary[object, _Connection] = field(default_factory=weakref.WeakKeyDictionary)

    def challenge(self) -> web.Response:
        """HTTP 401 listing the schemes the service accepts, as Windows lists them (Negotiate first)."""
        headers: CIMultiDict[str] = CIMultiDict()
        if NEGOTIATE in self.policy.schemes:
            headers.add("WWW-Authenticate", "Negotiate")
        if BASIC in self.policy.schemes:
            headers.add("WWW-Authenticate", 'Basic realm="WSMAN"')
        return web.Response(status=401, headers=headers)

    def authenticate(self, request: web.Request) -> Granted | web.Response:
        """The request's authentication: granted, or the 401 (challenge or refusal) to answer with."""
        connection_key = request.transport
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            return Granted() if self._basic(value.strip()) else self.challenge()
        if scheme in ("negotiate", "ntlm") and NEGOTIATE in self.policy.schemes and connection_key is not None:
            return self._negotiate(connection_key, value.strip())
        if connection_key is not None and not header:
            known = self._connections.get(connection_key)
            if known is not None and known.complete:
                return Granted(session=known.context)
        return self.challenge()

    def _basic(self, value: str) -> bool:
        if not self.policy.basic_allowed(self.https):
            return False
        try:
            user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user.lower().encode(), self.username.lower().encode()) & hmac.compare_digest(
            password.encode(), self.password.encode()
        )

    def _negotiate(self, connection_key: object, value: str) -> Granted | web.Response:
        try:
            token = base64.b64decode(value, validate=True)
        except binascii.Error:
            return self.challenge()
        if self.user_store is None:  # a host without an account accepts nobody
            return self.challenge()
        known = self._connections.get(connection_key)
        fresh = known is None or known.complete or token.startswith(b"NTLMSSP\x00\x01") or token[:1] == b"\x60"
        try:
            with _user_store(self.user_store):
                if fresh:
                    known = _Connection(spnego.server(protocol="negotiate", channel_bindings=self.bindings))
                    self._connections[connection_key] = known
                assert known is not None
                out = known.context.step(token)
        except Exception:  # pyspnego raises several types for a token it cannot take
            # A wrong password, an unknown account, channel bindings that do not match or a token that does not
            # parse: the connection starts over, as Windows answers a failed AUTHENTICATE with a bare 401.
            self._connections.pop(connection_key, None)
            return self.challenge()
        if not known.context.complete:
            encoded = base64.b64encode(out or b"").decode()
            return web.Response(status=401, headers={"WWW-Authenticate": f"Negotiate {encoded}"})
        known.complete = True
        return Granted(session=known.context, token=out)

    def open(self, granted: Granted, request: web.Request, body: bytes) -> Opened | web.Response:
        """The SOAP text of a request body, unsealed where it came sealed; or the refusal a host answers with."""
        content_type = request.headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/encrypted"):
            if granted.session is None or f'protocol="{PROTOCOL}"'.lower() not in content_type.lower():
                return web.Response(status=400)
            try:
                return Opened(unseal(granted.session, body), sealed=True)
            except EncryptionError:
                return web.Response(status=400)
        if body and not self.https and not self.policy.allow_unencrypted:
            return web.Response(status=500)
        return Opened(body)

    def answer(self, granted: Granted, opened: Opened, status: int, payload: bytes) -> web.Response:
        """The HTTP answer: sealed when the request was, with the last Negotiate token when there is one."""
        headers: dict[str, str] = {}
        if granted.token:
            headers["WWW-Authenticate"] = "Negotiate " + base64.b64encode(granted.token).decode()
        if opened.sealed and granted.session is not None:
            headers["Content-Type"] = ENCRYPTED_CONTENT_TYPE
            return web.Response(body=seal(granted.session, payload), status=status, headers=headers)
        headers["Content-Type"] = SOAP_CONTENT_TYPE
        return web.Response(body=payload, status=status, headers=headers)


def seal(session: spnego.ContextProxy, payload: bytes) -> bytes:
    """One MIME part pair as pywinrm's ``Encryption._encrypt_message`` frames it, then the closing boundary."""
    wrapped = session.wrap(payload, encrypt=True).data
    signature, sealed = wrapped[:_NTLM_SIGNATURE], wrapped[_NTLM_SIGNATURE:]
    return (
        _BOUNDARY + b"\r\n"
        b"\tContent-Type: " + PROTOCOL.encode() + b"\r\n"
        b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(payload)).encode() + b"\r\n"
        + _BOUNDARY + b"\r\n"
        b"\tContent-Type: application/octet-stream\r\n"
        + struct.pack("<i", len(signature)) + signature + sealed
        + _BOUNDARY + b"--\r\n"
    )  # fmt: skip


def unseal(session: spnego.ContextProxy, body: bytes) -> bytes:
    """The SOAP text of a sealed body (every part pair, in order); EncryptionError when it does not verify."""
    end = _BOUNDARY + b"--\r\n"
    if not body.endswith(end):
        raise EncryptionError("the body does not end with the closing boundary")
    parts = [p for p in body[: -len(end)].split(_BOUNDARY + b"\r\n") if p]
    if not parts or len(parts) % 2:
        raise EncryptionError("the body is not pairs of header and payload parts")
    message = b""
    for header, payload in zip(parts[::2], parts[1::2], strict=True):
        length = _LENGTH.search(header)
        prefix = b"\tContent-Type: application/octet-stream\r\n"
        if length is None or PROTOCOL.encode() not in header or not payload.startswith(prefix):
            raise EncryptionError("a part's headers are not WinRM's")
        data = payload[len(prefix) :]
        if len(data) < 4:
            raise EncryptionError("a part is too short")
        signature_length = struct.unpack("<i", data[:4])[0]
        signature, sealed = data[4 : 4 + signature_length], data[4 + signature_length :]
        try:
            plain = session.unwrap(signature + sealed).data
        except spnego.exceptions.SpnegoError as exc:
            raise EncryptionError(f"the part does not unseal: {exc}") from None
        if len(plain) != int(length.group(1)):
            raise EncryptionError("the unsealed length is not the declared one")
        message += plain
    return message
