"""TLS and mTLS to Temporal with hvdr's settings.

`temporal server start-dev` has no TLS options (CLI 1.9.1), so the dev server is put behind a TLS terminator
that speaks HTTP/2 (ALPN h2) and, for mTLS, requires a client certificate signed by the test CA: the client
side is exactly what it is against a TLS-enabled Temporal cluster.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.testing import WorkflowEnvironment

from hvdr.client import Client, _tls
from hvdr.errors import ConfigError, TemporalUnavailable
from hvdr.settings import load_settings
from tests.secret_scan import file_sources, find_leaks


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    san: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        names = [x509.DNSName("temporal.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca_key, other_key, server_key, client_key = _key(), _key(), _key(), _key()
    ca = _cert("hvdr test CA", ca_key, None, ca=True)
    return Pki(
        ca=_write(d / "ca.pem", ca),
        server_cert=_write(
            d / "server.pem", _cert("temporal.test", server_key, ("hvdr test CA", ca_key), san=True), server_key
        ),
        server_key=d / "server.key",
        client_cert=_write(d / "client.pem", _cert("hvdr-worker", client_key, ("hvdr test CA", ca_key)), client_key),
        client_key=d / "client.key",
        other_ca=_write(d / "other-ca.pem", _cert("someone else", other_key, None, ca=True)),
    )


@pytest.fixture
async def tls_frontend(env: WorkflowEnvironment, pki: Pki) -> AsyncIterator[str]:
    """A TLS (mTLS: a client certificate from the test CA is required) front for the session's dev server."""
    target_host, target_port = env.client.service_client.config.target_host.rsplit(":", 1)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(target_host, int(target_port))
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()


def _env(home: Path, address: str, **tls: Path | str) -> dict[str, str]:
    env = {"HVDR_HOME": str(home), "HVDR_TEMPORAL_ADDRESS": address}
    env.update({f"HVDR_TLS_{k.upper()}": str(v) for k, v in tls.items()})
    return env


async def test_mtls_with_the_settings_client_certificate_reaches_temporal(
    tls_frontend: str, pki: Pki, hvdr_home: Path
) -> None:
    settings = load_settings(
        _env(hvdr_home, tls_frontend, ca=pki.ca, cert=pki.client_cert, key=pki.client_key, server_name="temporal.test")
    )
    client = await Client.connect(settings)
    assert await client.pollers("hvdr-tls-check") == []  # a real RPC over the mutually authenticated channel


async def test_without_the_client_certificate_or_with_another_ca_the_connection_fails_clearly(
    tls_frontend: str, pki: Pki, hvdr_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TemporalUnavailable, match=f"cannot reach Temporal at {tls_frontend}") as no_cert:
        await Client.connect(load_settings(_env(hvdr_home, tls_frontend, ca=pki.ca, server_name="temporal.test")))
    wrong_ca = _env(hvdr_home, tls_frontend, ca=pki.other_ca, cert=pki.client_cert, key=pki.client_key)
    with pytest.raises(TemporalUnavailable, match="cannot reach Temporal") as other_ca:
        await Client.connect(load_settings(wrong_ca))
    # The secret scan of the TLS runs: neither the errors shown to the user, nor the logs, nor the hvdr home hold a
    # line of the client's private key.
    key_lines = [line for line in pki.client_key.read_text().splitlines() if line and not line.startswith("-----")]
    shown = [("errors", f"{no_cert.value}\n{other_ca.value}".encode()), ("logs", caplog.text.encode())]
    leaks = find_leaks([*shown, *file_sources(hvdr_home)], key_lines)
    assert key_lines and not leaks, "\n".join(map(str, leaks))


def test_the_tls_settings_build_the_sdks_tls_config(pki: Pki, hvdr_home: Path) -> None:
    assert _tls(load_settings({"HVDR_HOME": str(hvdr_home)})) is False
    config = _tls(load_settings(_env(hvdr_home, "t:7233", ca=pki.ca, cert=pki.client_cert, key=pki.client_key)))
    assert not isinstance(config, bool)
    assert config.server_root_ca_cert == pki.ca.read_bytes()
    assert config.client_cert == pki.client_cert.read_bytes()
    assert config.client_private_key == pki.client_key.read_bytes()
    system_roots = _tls(load_settings({"HVDR_HOME": str(hvdr_home), "HVDR_TLS": "true"}))
    assert not isinstance(system_roots, bool) and system_roots.server_root_ca_cert is None
    with pytest.raises(ConfigError, match=r"cannot read a TLS file \(.*missing.pem\)"):
        _tls(load_settings(_env(hvdr_home, "t:7233", ca=hvdr_home / "missing.pem")))
