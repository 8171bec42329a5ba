"""The lab's WinRM service, driven by plain pywinrm over real HTTP(S) on loopback."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import requests
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WSManFaultError
from winrm.protocol import Protocol

from hvdr.lab.wsman import WinRMServer
from tests.lab.wire.fakes import FakeHost

Lab = tuple[WinRMServer, dict[str, str], dict[str, FakeHost]]
USER, PASSWORD = "administrator", "Lab-Passw0rd!"


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    hosts = {"hv01": FakeHost("hv01.lab.local"), "hv02": FakeHost("hv02.lab.local", ["Сервер-1"])}
    server = WinRMServer(hosts, {name: (USER, PASSWORD) for name in hosts})
    urls = await server.start()
    yield server, urls, hosts
    await server.stop()


def _protocol(url: str, password: str = PASSWORD, **kwargs: object) -> Protocol:
    return Protocol(url, transport="basic", username=USER, password=password, **kwargs)  # type: ignore[arg-type]


def _command(script: str) -> str:
    return "powershell -encodedcommand " + base64.b64encode(script.encode("utf-16-le")).decode()


async def test_one_port_per_host(lab: Lab) -> None:
    _, urls, _ = lab
    ports = {urlsplit(url).port for url in urls.values()}
    assert len(ports) == 2
    assert all(url.startswith("http://127.0.0.1:") and url.endswith("/wsman") for url in urls.values())


async def test_session_run_ps(lab: Lab) -> None:
    _, urls, _ = lab
    session = winrm.Session(urls["hv01"], auth=(USER, PASSWORD))
    result = await asyncio.to_thread(session.run_ps, "Get-VM | Select-Object -Property Name")
    assert result.status_code == 0
    assert result.std_out == b"\r\nName : web-01\r\n\r\n\r\nName : db-01\r\n\r\n"


async def test_session_run_ps_error_text(lab: Lab) -> None:
    _, urls, _ = lab
    session = winrm.Session(urls["hv01"], auth=(USER, PASSWORD))
    result = await asyncio.to_thread(session.run_ps, "$ErrorActionPreference = 'Stop'\nStop-VM -Name 'nope'")
    assert result.status_code == 1
    text = result.std_err.decode()
    assert text.startswith('Stop-VM : Hyper-V was unable to find a virtual machine with name "nope".')
    assert "+ FullyQualifiedErrorId : InvalidParameter," in text


async def test_unparseable_script_is_an_error(lab: Lab) -> None:
    _, urls, _ = lab
    session = winrm.Session(urls["hv01"], auth=(USER, PASSWORD))
    result = await asyncio.to_thread(session.run_ps, 'if ($true) { Get-VM -Name "$(Remove-Item C:\\)"')
    assert result.status_code == 1 and result.std_out == b""
    assert b"ParserError" in result.std_err and b"MissingEndCurlyBrace" in result.std_err


async def test_protocol_with_utf8_codepage(lab: Lab) -> None:
    _, urls, _ = lab

    def call(codepage: int) -> bytes:
        protocol = _protocol(urls["hv02"])
        shell = protocol.open_shell(codepage=codepage)
        command = protocol.run_command(shell, _command("Get-VM | Select-Object -Property Name"))
        out, err, code = protocol.get_command_output(shell, command)
        protocol.cleanup_command(shell, command)
        protocol.close_shell(shell)
        assert code == 0 and err.startswith(b"#< CLIXML")  # only the progress record
        return out

    assert "Сервер-1" in (await asyncio.to_thread(call, 65001)).decode("utf-8")
    assert b"Name : ??????-1" in await asyncio.to_thread(call, 437)


async def test_bad_or_missing_credentials_get_401(lab: Lab) -> None:
    _, urls, _ = lab
    session = winrm.Session(urls["hv01"], auth=(USER, "wrong"))
    with pytest.raises(InvalidCredentialsError):
        await asyncio.to_thread(session.run_ps, "Get-VM")
    response = await asyncio.to_thread(requests.post, urls["hv01"], data=b"<x/>", timeout=5)
    assert response.status_code == 401
    # As a host whose service allows Negotiate and Basic lists them (requests joins the two headers).
    assert response.headers["WWW-Authenticate"] == 'Negotiate, Basic realm="WSMAN"'


async def test_receive_running_then_done(lab: Lab) -> None:
    _, urls, _ = lab

    def call() -> list[tuple[bytes, bool]]:
        protocol = _protocol(urls["hv01"])
        shell = protocol.open_shell(codepage=65001)
        command = protocol.run_command(shell, _command("Write-Output 'a'\nStart-Sleep -Milliseconds 400\nexit 3"))
        seen: list[tuple[bytes, bool]] = []
        while True:
            out, _, code, done = protocol.get_command_output_raw(shell, command)
            seen.append((out, done))
            if done:
                assert code == 3
                return seen

    seen = await asyncio.to_thread(call)
    assert seen[0] == (b"a\r\n", False)
    assert seen[-1][1] is True


async def test_operation_timeout_fault(lab: Lab) -> None:
    _, urls, hosts = lab
    hosts["hv01"].faults.cmdlet_latency_s = {"Get-VM": 2.5}

    def call() -> tuple[float, int]:
        protocol = _protocol(urls["hv01"], operation_timeout_sec=1, read_timeout_sec=5)
        shell = protocol.open_shell()
        command = protocol.run_command(shell, _command("Get-VM | Out-Null"))
        started = time.monotonic()
        with pytest.raises(WinRMOperationTimeoutError):
            protocol.get_command_output_raw(shell, command)
        waited = time.monotonic() - started
        _, _, code = protocol.get_command_output(shell, command)  # retries the timeouts until Done
        return waited, code

    waited, code = await asyncio.to_thread(call)
    assert 0.9 <= waited < 2.4 and code == 0


async def test_signal_terminates_and_delete_closes(lab: Lab) -> None:
    _, urls, _ = lab

    def call() -> None:
        protocol = _protocol(urls["hv01"], operation_timeout_sec=1, read_timeout_sec=5)
        shell = protocol.open_shell()
        command = protocol.run_command(shell, _command("Start-Sleep -Seconds 60"))
        protocol.cleanup_command(shell, command)
        with pytest.raises(WSManFaultError) as caught:
            protocol.get_command_output_raw(shell, command)
        assert caught.value.wsman_fault_code == 2150858779
        protocol.close_shell(shell, close_session=False)
        with pytest.raises(WSManFaultError) as caught:
            protocol.run_command(shell, _command("Get-VM"))
        assert caught.value.wsman_fault_code == 2150858843

    await asyncio.to_thread(call)


async def test_host_down_refuses_connections_then_comes_back(
    lab: Lab,
) -> None:
    _, urls, hosts = lab
    port = urlsplit(urls["hv01"]).port
    assert port is not None
    hosts["hv01"].faults.down = True
    await asyncio.sleep(0.3)
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    session = winrm.Session(urls["hv02"], auth=(USER, PASSWORD))
    assert (await asyncio.to_thread(session.run_ps, "Get-VM | Out-Null")).status_code == 0
    hosts["hv01"].faults.down = False
    await asyncio.sleep(0.3)
    session = winrm.Session(urls["hv01"], auth=(USER, PASSWORD))
    assert (await asyncio.to_thread(session.run_ps, "Get-VM | Out-Null")).status_code == 0


async def test_kept_alive_connection_is_dropped_when_down(
    lab: Lab,
) -> None:
    _, urls, hosts = lab
    protocol = _protocol(urls["hv01"], operation_timeout_sec=1, read_timeout_sec=3)
    shell = await asyncio.to_thread(protocol.open_shell)
    hosts["hv01"].faults.down = True
    with pytest.raises(requests.exceptions.ConnectionError):
        await asyncio.to_thread(protocol.run_command, shell, _command("Get-VM"))


async def test_latency_and_error_rate(lab: Lab) -> None:
    _, urls, hosts = lab
    session = winrm.Session(urls["hv01"], auth=(USER, PASSWORD))
    hosts["hv01"].faults.latency_s = 0.1
    started = time.monotonic()
    await asyncio.to_thread(session.run_ps, "Get-VM | Out-Null")
    assert time.monotonic() - started >= 0.5  # five requests
    hosts["hv01"].faults.latency_s = 0.0
    hosts["hv01"].faults.error_rate = 1.0
    with pytest.raises(WSManFaultError) as caught:
        await asyncio.to_thread(session.run_ps, "Get-VM")
    assert caught.value.code == 500 and caught.value.wsman_fault_code == 2147500037


async def test_200_concurrent_commands(lab: Lab) -> None:
    _, urls, _ = lab

    def one(index: int) -> tuple[int, bytes]:
        session = winrm.Session(urls["hv01" if index % 2 else "hv02"], auth=(USER, PASSWORD))
        result = session.run_ps(f"Write-Output 'n{index}'")
        return result.status_code, result.std_out

    results = await asyncio.gather(*(asyncio.to_thread(one, i) for i in range(200)))
    assert results == [(0, f"n{i}\r\n".encode()) for i in range(200)]


async def test_https_with_generated_certificate(tmp_path_factory: pytest.TempPathFactory) -> None:
    host = FakeHost()
    server = WinRMServer(
        {"hv01": host}, {"hv01": (USER, PASSWORD)}, https=True, cert_dir=tmp_path_factory.mktemp("tls")
    )
    urls = await server.start()
    try:
        assert urls["hv01"].startswith("https://127.0.0.1:")
        assert server.ca_cert_path is not None and server.ca_cert_path.read_text().startswith("-----BEGIN CERTIFICATE")
        session = winrm.Session(
            urls["hv01"], auth=(USER, PASSWORD), transport="ssl", ca_trust_path=str(server.ca_cert_path)
        )
        assert (await asyncio.to_thread(session.run_ps, "Write-Output 'tls'")).std_out == b"tls\r\n"
        untrusted = winrm.Session(urls["hv01"], auth=(USER, PASSWORD), transport="ssl", ca_trust_path=None)
        with pytest.raises(requests.exceptions.SSLError):
            await asyncio.to_thread(untrusted.run_ps, "Write-Output 'tls'")
    finally:
        await server.stop()


async def test_fixed_ports_and_too_long_command_line(lab: Lab) -> None:
    server, urls, hosts = lab
    port = urlsplit(urls["hv01"]).port
    await server.stop()
    again = WinRMServer({"hv01": hosts["hv01"]}, {"hv01": (USER, PASSWORD)})
    assert await again.start({"hv01": port or 0}) == {"hv01": urls["hv01"]}
    try:
        session = winrm.Session(urls["hv01"], auth=(USER, PASSWORD))
        result = await asyncio.to_thread(session.run_ps, "Write-Output '" + "x" * 3100 + "'")
        assert result.status_code == 1 and result.std_err == b"The command line is too long.\r\n"
    finally:
        await again.stop()
