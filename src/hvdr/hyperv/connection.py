"""How to reach one host over WinRM, and with which credential.

Two halves so that no secret enters workflow history: :class:`HostEndpoint` (URL, transport, TLS and
timeouts, plus a credential *reference*) is safe to put in activity inputs; the site worker resolves the
reference into a :class:`Credential` and builds a :class:`HostConnection` with :meth:`HostConnection.resolve`.
The password is a ``SecretStr``: its ``repr``/``str`` are masked, and the driver never formats it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from hvdr.errors import ConfigError


class TransportKind(StrEnum):
    BASIC = "basic"
    NTLM = "ntlm"
    KERBEROS = "kerberos"
    CERTIFICATE = "certificate"
    CREDSSP = "credssp"


class Credential(BaseModel):
    model_config = ConfigDict(frozen=True)

    username: str
    password: SecretStr = SecretStr("")


CredentialResolver = Callable[[str], Credential]


class HostEndpoint(BaseModel):
    """Everything about a host's WinRM endpoint except the secret; safe in workflow inputs and logs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="the host's name (FQDN) as hvdr knows it; used in messages")
    url: str = Field(description="https://host:5986/wsman (http only with insecure=True)")
    transport: TransportKind = TransportKind.NTLM
    insecure: bool = Field(default=False, description="allow plain HTTP (the lab, or a lab-like test bed)")
    ca_path: Path | None = Field(default=None, description="PEM bundle to validate the host's certificate")
    client_cert_pem: Path | None = None
    client_key_pem: Path | None = None
    credential_ref: str | None = Field(default=None, description="resolved on the worker, never the secret")
    operation_timeout_s: int = Field(default=20, ge=1, description="w:OperationTimeout of each Receive")
    read_timeout_s: int = Field(default=30, ge=2, description="HTTP read timeout; > operation_timeout_s")
    command_timeout_s: float = Field(default=1800.0, gt=0, description="budget for one cmdlet script")
    max_shells: int = Field(default=4, ge=1, le=25, description="shells kept open for concurrent commands")
    proxy: str | None = None

    @model_validator(mode="after")
    def _check(self) -> HostEndpoint:
        scheme = urlsplit(self.url).scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"url must be http(s)://…, got {self.url!r}")
        if scheme == "http" and not self.insecure:
            raise ValueError(f"{self.name}: plain HTTP needs insecure=True (use HTTPS with certificate validation)")
        if self.operation_timeout_s >= self.read_timeout_s:
            raise ValueError("read_timeout_s must exceed operation_timeout_s")
        if self.transport is TransportKind.CERTIFICATE and not (self.client_cert_pem and self.client_key_pem):
            raise ValueError("certificate transport needs client_cert_pem and client_key_pem")
        if self.transport in (TransportKind.CREDSSP, TransportKind.CERTIFICATE) and scheme != "https":
            raise ValueError(f"{self.transport} transport needs HTTPS")
        return self


class HostConnection(BaseModel):
    """An endpoint with its resolved credential; lives on the worker only."""

    model_config = ConfigDict(frozen=True)

    endpoint: HostEndpoint
    credential: Credential | None = None

    @classmethod
    def resolve(cls, endpoint: HostEndpoint, resolver: CredentialResolver) -> HostConnection:
        """Build the connection on the worker from the endpoint's credential reference."""
        if endpoint.transport is TransportKind.CERTIFICATE:
            return cls(endpoint=endpoint)
        if not endpoint.credential_ref:
            raise ConfigError(f"{endpoint.name}: no credential reference for {endpoint.transport} transport")
        try:
            credential = resolver(endpoint.credential_ref)
        except KeyError:
            raise ConfigError(f"{endpoint.name}: credential {endpoint.credential_ref!r} is not configured") from None
        return cls(endpoint=endpoint, credential=credential)

    @classmethod
    def basic(cls, name: str, url: str, username: str, password: str, **settings: object) -> HostConnection:
        """A Basic-auth connection in one call (the lab, tests, scripts)."""
        try:
            endpoint = HostEndpoint.model_validate({"name": name, "url": url, "transport": "basic", **settings})
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return cls(endpoint=endpoint, credential=Credential(username=username, password=SecretStr(password)))

    @property
    def name(self) -> str:
        return self.endpoint.name
