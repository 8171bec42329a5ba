"""Negotiate (NTLM) with WinRM message encryption, as a Windows host's WinRM service does it, driven by plain
pywinrm: what crosses the wire is sealed on HTTP, refused when it is not, and plain SOAP inside TLS."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import requests
import spnego
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMTransportError
from winrm.protocol import Protocol

from hvdr.lab.wsman import WinRMServer
from hvdr.lab.wsman.auth import ENCRYPTED_CONTENT_TYPE, AuthPolicy
from tests.lab.wire.fakes import FakeHost

USER, PASSWORD = "LAB\\hvdr", "Lab-Passw0rd!"
Served = tuple[WinRMServer, str]


async def _serve(policy: AuthPolicy, **kwargs: Any) -> Served:
    server = WinRMServer({"hv01": FakeHost()}, {"hv01": (USER, PASSWORD)}, auth=policy, **kwargs)
    return server, (await server.start())["hv01"]


@pytest.fixture
async def windows() -> AsyncIterator[Served]:
    """A host as Windows installs it: Negotiate only, AllowUnencrypted = false, plain HTTP on 5985."""
    served = await _serve(AuthPolicy.windows_default())
    yield served
    await served[0].stop()


def _recorded(monkeypatch: pytest.MonkeyPatch) -> list[requests.Response]:
    """Every HTTP answer requests receives from now on (requests-ntlm's handshake legs included)."""
    seen: list[requests.Response] = []
    send = requests.adapters.HTTPAdapter.send

    def recording(self: requests.adapters.HTTPAdapter, *args: Any, **kwargs: Any) -> requests.Response:
        response = send(self, *args, **kwargs)
        seen.append(response)
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", recording)
    return seen


def _run(protocol: Protocol, script: str) -> tuple[bytes, bytes, int]:
    shell = protocol.open_shell(codepage=65001)
    try:
        command = protocol.run_command(
            shell, "powershell -encodedcommand " + base64.b64encode(script.encode("utf-16-le")).decode()
        )
        out, err, code = protocol.get_command_output(shell, command)
        protocol.cleanup_command(shell, command)
        return out, err, code
    finally:
        protocol.close_shell(shell)


async def test_ntlm_over_http_is_sealed_both_ways(windows: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    _, url = windows
    protocol = Protocol(url, transport="ntlm", username=USER, password=PASSWORD, message_encryption="auto")
    seen = _recorded(monkeypatch)
    out, _, code = await asyncio.to_thread(_run, protocol, "Write-Output 'sealed'")
    assert (out, code) == (b"sealed\r\n", 0)
    assert protocol.transport.encryption is not None
    challenges = [r.headers["WWW-Authenticate"] for r in seen if r.status_code == 401]
    assert challenges[0] == "Negotiate" and challenges[1].startswith("Negotiate TlRMTVNTUAAC")  # NTLM CHALLENGE
    answers = [r for r in seen if r.status_code == 200 and r.content]
    assert len(answers) >= 4  # Create, Command, Receive, Signal, Delete
    for answer in answers:
        assert answer.headers["Content-Type"] == ENCRYPTED_CONTENT_TYPE
        assert answer.content.startswith(b"--Encrypted Boundary\r\n") and b"<s:Envelope" not in answer.content
    assert sum(r.status_code == 401 for r in seen) == 2  # one handshake: the connection stays authenticated


async def test_unencrypted_bodies_and_basic_are_refused_on_http(windows: Served) -> None:
    _, url = windows
    plain = Protocol(url, transport="ntlm", username=USER, password=PASSWORD, message_encryption="never")
    with pytest.raises(WinRMTransportError) as caught:
        await asyncio.to_thread(plain.open_shell)
    assert caught.value.code == 500  # authenticated, then refused: AllowUnencrypted = false
    basic = winrm.Session(url, auth=(USER, PASSWORD), transport="basic")
    with pytest.raises(InvalidCredentialsError):
        await asyncio.to_thread(basic.run_ps, "Get-VM")
    response = await asyncio.to_thread(requests.post, url, data=b"<x/>", timeout=5)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Negotiate"


async def test_a_wrong_password_or_account_gets_401(windows: Served) -> None:
    _, url = windows
    for username, password in ((USER, "wrong"), ("LAB\\someone", PASSWORD), ("OTHER\\hvdr", PASSWORD)):
        session = winrm.Session(url, auth=(username, password), transport="ntlm")
        with pytest.raises(InvalidCredentialsError):
            await asyncio.to_thread(session.run_ps, "Get-VM")
    good = winrm.Session(url, auth=(USER, PASSWORD), transport="ntlm")
    assert (await asyncio.to_thread(good.run_ps, "Write-Output 'ok'")).std_out == b"ok\r\n"


async def test_a_tampered_sealed_body_is_refused(windows: Served) -> None:
    _, url = windows
    protocol = Protocol(url, transport="ntlm", username=USER, password=PASSWORD)
    shell = await asyncio.to_thread(protocol.open_shell)
    transport = protocol.transport
    assert transport.encryption is not None and transport.session is not None
    session = transport.session
    request = transport.encryption.prepare_encrypted_request(session, url, b"<s:Envelope/>")
    assert request.body is not None and isinstance(request.body, bytes)
    request.body = request.body.replace(b"Length=13", b"Length=14")  # unseals, but not to the declared length
    assert (await asyncio.to_thread(session.send, request, timeout=5)).status_code == 400
    await asyncio.to_thread(protocol.close_shell, shell, False)  # both sides' sequence numbers moved on alike
    request = transport.encryption.prepare_encrypted_request(session, url, b"<s:Envelope/>")
    assert isinstance(request.body, bytes)
    flipped = bytearray(request.body)
    flipped[-30] ^= 0xFF  # a byte of the sealed message: its signature no longer verifies
    request.body = bytes(flipped)
    assert (await asyncio.to_thread(session.send, request, timeout=5)).status_code == 400


async def test_spnego_wrapped_tokens_are_accepted(windows: Served) -> None:
    """Clients that wrap NTLM in SPNEGO (pypsrp, Windows' own) authenticate too."""
    _, url = windows
    client = spnego.client(USER, PASSWORD, hostname="127.0.0.1", service="http", protocol="negotiate")
    http = requests.Session()
    token = client.step()
    response = None
    while token:
        header = {"Authorization": "Negotiate " + base64.b64encode(token).decode()}
        response = await asyncio.to_thread(http.post, url, data=b"", headers=header, timeout=5)
        reply = response.headers.get("WWW-Authenticate", "").partition(" ")[2]
        token = client.step(base64.b64decode(reply)) if reply and not client.complete else None
    assert response is not None and response.status_code == 200 and client.complete


async def test_https_ntlm_checks_the_channel_binding(tmp_path: Path) -> None:
    server, url = await _serve(AuthPolicy.windows_default(), https=True, cert_dir=tmp_path)
    try:
        ca = str(server.ca_cert_path)
        session = winrm.Session(url, auth=(USER, PASSWORD), transport="ntlm", ca_trust_path=ca)
        assert (await asyncio.to_thread(session.run_ps, "Write-Output 'tls'")).std_out == b"tls\r\n"
        assert session.protocol.transport.encryption is None  # TLS is the encryption: plain SOAP inside
        unbound = winrm.Session(url, auth=(USER, PASSWORD), transport="ntlm", ca_trust_path=ca, send_cbt=False)
        with pytest.raises(InvalidCredentialsError):
            await asyncio.to_thread(unbound.run_ps, "Write-Output 'tls'")
    finally:
        await server.stop()


async def test_the_default_lab_serves_basic_and_negotiate_on_http() -> None:
    server, url = await _serve(AuthPolicy())
    try:
        for transport in ("basic", "ntlm"):
            session = winrm.Session(url, auth=(USER, PASSWORD), transport=transport)
            assert (await asyncio.to_thread(session.run_ps, f"Write-Output '{transport}'")).status_code == 0
        never = Protocol(url, transport="ntlm", username=USER, password=PASSWORD, message_encryption="never")
        shell = await asyncio.to_thread(never.open_shell)  # AllowUnencrypted = true, as the lab's default
        await asyncio.to_thread(never.close_shell, shell)
    finally:
        await server.stop()


async def test_a_non_ascii_basic_account_is_refused_not_an_internal_error() -> None:
    server, url = await _serve(AuthPolicy())
    try:
        header = "Basic " + base64.b64encode("пользователь:pw".encode()).decode()
        response = await asyncio.to_thread(requests.post, url, data=b"<x/>", headers={"Authorization": header})
        assert response.status_code == 401
    finally:
        await server.stop()
