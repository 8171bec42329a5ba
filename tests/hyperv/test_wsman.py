"""The driver's template-built Command and Receive (hvdr.hyperv.wsman) against pywinrm's own.

For the same inputs, ``xmltodict.parse`` of our message must equal that of the message pywinrm's Protocol
builds; responses must read exactly as pywinrm reads them; SOAP faults must come out as the same pywinrm
exceptions, and so as the same driver errors. The lab-backed tests check that a real WinRM round trip
through the templates works, including the shell-not-found retry.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
import winrm.exceptions as winrm_exc
import xmltodict
from winrm.protocol import Protocol

from hvdr.hyperv import AuthenticationFailed, WinRMHyperVHost, WinRMServiceError, WinRMTimeout
from hvdr.hyperv.errors import WSMAN_OPERATION_TIMEOUT, WSMAN_SHELL_NOT_FOUND, map_winrm_errors
from hvdr.hyperv.scripts import encoded_command
from hvdr.hyperv.transport import WinRMTransport
from hvdr.hyperv.wsman import (
    cleanup_command,
    command_message,
    get_command_output_raw,
    message_uuid,
    parse_command_response,
    parse_receive_response,
    receive_message,
    run_command,
    signal_message,
)
from hvdr.lab.wsman import responses as lab_responses
from hvdr.lab.wsman.envelopes import parse_request
from hvdr.lab.wsman.responses import ReceiveChunk
from tests.hyperv.conftest import A1, LabDrivers

FIXED_ID = uuid.UUID("11111111-1111-4111-8111-111111111111")
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"


class _Recorder:
    """Stands in for a Protocol's send_message: keeps what it was sent, answers a canned response."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.sent: list[str] = []

    def __call__(self, message: str) -> bytes:
        self.sent.append(message)
        return self.response


def _protocol(response: bytes, monkeypatch: pytest.MonkeyPatch, *, operation_timeout: int = 20) -> Protocol:
    protocol = Protocol(
        "http://127.0.0.1:5985/wsman",
        transport="basic",
        username="u",
        password="p",
        operation_timeout_sec=operation_timeout,
        read_timeout_sec=operation_timeout + 10,
    )
    monkeypatch.setattr("winrm.protocol.uuid.uuid4", lambda: FIXED_ID)
    protocol.send_message = _Recorder(response)  # type: ignore[method-assign]
    return protocol


def _sent(protocol: Protocol) -> str:
    recorder = protocol.send_message
    assert isinstance(recorder, _Recorder)
    return recorder.sent[-1]


COMMAND_RESPONSE = lab_responses.command_response("uuid:x", "CMD-1")


@pytest.mark.parametrize(
    ("shell_id", "command", "timeout"),
    [
        ("0AB3C1D2-1111-4222-8333-123456789ABC", encoded_command("Get-VM -Name 'db-01'"), 20),
        ("shell&<>\"'", "powershell -EncodedCommand A&B<C>D\"E'F ]]> \u00e9\u4e2d", 7),
        ("s", "", 1),
    ],
)
def test_command_message_is_pywinrms(
    shell_id: str, command: str, timeout: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    protocol = _protocol(COMMAND_RESPONSE, monkeypatch, operation_timeout=timeout)
    protocol.run_command(shell_id, command)
    ours = command_message(shell_id, command, operation_timeout_s=timeout, message_id=FIXED_ID)
    assert xmltodict.parse(ours) == xmltodict.parse(_sent(protocol))


@pytest.mark.parametrize("command_id", ["5D2E1C5B-0000-4000-8000-00000000ABCD", 'id "quoted" & <x>', "it's"])
def test_receive_message_is_pywinrms(command_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    response = lab_responses.receive_response("uuid:x", command_id, ReceiveChunk(b"", b"", True, 0))
    protocol = _protocol(response, monkeypatch)
    protocol.get_command_output_raw("SHELL-1", command_id)
    ours = receive_message("SHELL-1", command_id, operation_timeout_s=20, message_id=FIXED_ID)
    assert xmltodict.parse(ours) == xmltodict.parse(_sent(protocol))


@pytest.mark.parametrize("command_id", ["5D2E1C5B-0000-4000-8000-00000000ABCD", 'id "quoted" & <x>'])
def test_signal_message_is_pywinrms(command_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    protocol = _protocol(lab_responses.signal_response(f"uuid:{FIXED_ID}"), monkeypatch)
    protocol.cleanup_command("SHELL-1", command_id)
    ours = signal_message("SHELL-1", command_id, operation_timeout_s=20, message_id=FIXED_ID)
    assert xmltodict.parse(ours) == xmltodict.parse(_sent(protocol))


def test_signal_checks_the_answer_relates_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hvdr.hyperv.wsman.message_uuid", lambda: FIXED_ID)
    protocol = _protocol(lab_responses.signal_response(f"uuid:{FIXED_ID}"), monkeypatch)
    cleanup_command(protocol, "SHELL-1", "CMD-1")
    assert xmltodict.parse(_sent(protocol))["env:Envelope"]["env:Body"]["rsp:Signal"]["@CommandId"] == "CMD-1"
    other = _protocol(lab_responses.signal_response("uuid:00000000-0000-4000-8000-000000000000"), monkeypatch)
    with pytest.raises(winrm_exc.WinRMError, match="RelatesTo mismatch"):
        cleanup_command(other, "SHELL-1", "CMD-1")


def test_protocol_helpers_send_the_templates_with_the_protocols_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    protocol = _protocol(COMMAND_RESPONSE, monkeypatch, operation_timeout=13)
    assert run_command(protocol, "S", "powershell -EncodedCommand QQA=") == "CMD-1"
    header = xmltodict.parse(_sent(protocol))["env:Envelope"]["env:Header"]
    assert header["w:OperationTimeout"] == "PT13S"
    assert header["a:Action"]["#text"] == f"{SHELL_URI}/Command"
    assert uuid.UUID(header["a:MessageID"].removeprefix("uuid:")).version == 4


def test_message_ids_are_unique_v4() -> None:
    ids = {message_uuid() for _ in range(10_000)}
    assert len(ids) == 10_000 and all(i.version == 4 for i in ids)


def test_the_lab_reads_our_messages_as_it_reads_pywinrms(monkeypatch: pytest.MonkeyPatch) -> None:
    command = encoded_command("Get-VM -Name 'a&b<c>'")
    protocol = _protocol(COMMAND_RESPONSE, monkeypatch)
    protocol.run_command("SHELL-1", command)
    theirs = parse_request(_sent(protocol).encode())
    ours = parse_request(command_message("SHELL-1", command, operation_timeout_s=20, message_id=FIXED_ID).encode())
    assert ours == theirs and ours.command == command and ours.shell_id == "SHELL-1"
    receive = parse_request(receive_message("SHELL-1", "C-1", operation_timeout_s=20).encode())
    assert (receive.action, receive.shell_id, receive.command_id) == (f"{SHELL_URI}/Receive", "SHELL-1", "C-1")


def _receive_samples() -> list[bytes]:
    lab = [
        lab_responses.receive_response("uuid:x", "C", ReceiveChunk(b"", b"", False, None)),
        lab_responses.receive_response("uuid:x", "C", ReceiveChunk(b"out\r\n", b"", False, None)),
        lab_responses.receive_response("uuid:x", "C", ReceiveChunk("\u00e9\u4e2d".encode(), b"#< CLIXML", True, 1)),
        lab_responses.receive_response("uuid:x", "C", ReceiveChunk(b"", b"", True, 0)),
    ]
    b64 = base64.b64encode
    # pywinrm's test fixture shape: several Stream elements per name, then End markers and Done.
    windows = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:rsp="' + SHELL_URI + '">'
        "<s:Body><rsp:ReceiveResponse>"
        f'<rsp:Stream Name="stdout" CommandId="C">{b64(b"hello ").decode()}</rsp:Stream>'
        f'<rsp:Stream Name="stderr" CommandId="C">{b64(b"warn").decode()}</rsp:Stream>'
        f'<rsp:Stream Name="stdout" CommandId="C">{b64(b"world").decode()}</rsp:Stream>'
        '<rsp:Stream Name="stdout" CommandId="C" End="true"></rsp:Stream>'
        '<rsp:Stream Name="stderr" CommandId="C" End="true"></rsp:Stream>'
        f'<rsp:CommandState CommandId="C" State="{SHELL_URI}/CommandState/Done">'
        "<rsp:ExitCode>3</rsp:ExitCode></rsp:CommandState>"
        "</rsp:ReceiveResponse></s:Body></s:Envelope>"
    ).encode()
    odd_stream = windows.replace(b'Name="stderr" CommandId="C">', b'Name="other" CommandId="C">', 1)
    return [*lab, windows, odd_stream]


@pytest.mark.parametrize("response", _receive_samples())
def test_receive_response_reads_as_pywinrm_reads_it(response: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    protocol = _protocol(response, monkeypatch)
    assert parse_receive_response(response) == protocol.get_command_output_raw("S", "C")
    assert get_command_output_raw(protocol, "S", "C") == protocol.get_command_output_raw("S", "C")


def test_command_response_reads_as_pywinrm_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    protocol = _protocol(COMMAND_RESPONSE, monkeypatch)
    assert parse_command_response(COMMAND_RESPONSE) == protocol.run_command("S", "x") == "CMD-1"


@pytest.mark.parametrize(
    ("parse", "response"),
    [
        (parse_command_response, b"not xml"),
        (parse_command_response, b"<a><b>no command id</b></a>"),
        (parse_receive_response, b"not xml"),
        (parse_receive_response, f'<a><b State="{SHELL_URI}/CommandState/Done"/></a>'.encode()),
        (
            parse_receive_response,
            f'<a><b State="{SHELL_URI}/CommandState/Done"><c:ExitCode xmlns:c="u">x</c:ExitCode></b></a>'.encode(),
        ),
        (parse_receive_response, b"<a><rsp:Stream xmlns:rsp='u'>AAAA</rsp:Stream></a>"),
        (parse_receive_response, b"<a><rsp:Stream xmlns:rsp='u' Name='stdout'>A</rsp:Stream></a>"),
    ],
)
def test_malformed_responses_are_service_errors(parse: Callable[[bytes], object], response: bytes) -> None:
    """Where pywinrm would let a StopIteration, KeyError or ValueError escape, the driver sees WinRMError."""
    with pytest.raises(WinRMServiceError), map_winrm_errors("h"):
        parse(response)


def _fault(code: int, subcode: str, reason: str) -> bytes:
    return lab_responses.fault("uuid:x", code=code, subcode=subcode, reason=reason, machine="h")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, _fault(WSMAN_OPERATION_TIMEOUT, "w:TimedOut", "timed out"), winrm_exc.WinRMOperationTimeoutError),
        (500, _fault(WSMAN_SHELL_NOT_FOUND, "w:InvalidSelectors", "no shell"), winrm_exc.WSManFaultError),
        (500, b"<html>oops</html>", winrm_exc.WinRMTransportError),
    ],
)
def test_faults_raise_the_pywinrm_exceptions_pywinrm_raises(
    status: int, body: bytes, expected: type[Exception], monkeypatch: pytest.MonkeyPatch
) -> None:
    protocol = _protocol(b"", monkeypatch)

    def failing(message: str | bytes) -> bytes:
        raise winrm_exc.WinRMTransportError("http", status, body.decode())

    monkeypatch.setattr(protocol, "send_message", Protocol.send_message.__get__(protocol))
    monkeypatch.setattr(protocol.transport, "send_message", failing)
    errors: list[Any] = []
    for call in (
        lambda: protocol.run_command("S", "x"),
        lambda: run_command(protocol, "S", "x"),
        lambda: protocol.get_command_output_raw("S", "C"),
        lambda: get_command_output_raw(protocol, "S", "C"),
    ):
        with pytest.raises(expected) as info:
            call()
        errors.append(info.value)
    for theirs, ours in ((errors[0], errors[1]), (errors[2], errors[3])):
        assert type(ours) is type(theirs)
        assert vars(ours) == vars(theirs)


@pytest.mark.parametrize(
    ("raised", "driver_error"),
    [
        (winrm_exc.WinRMOperationTimeoutError(), WinRMTimeout),
        (winrm_exc.InvalidCredentialsError("rejected"), AuthenticationFailed),
        (requests.exceptions.ReadTimeout(), WinRMTimeout),
        (
            winrm_exc.WSManFaultError(
                500, "m", "r", "internal error", "s:Receiver", "w:InternalError", 2147500037, None
            ),
            WinRMServiceError,
        ),
    ],
)
def test_transport_errors_through_the_templates_map_to_driver_errors(
    raised: Exception, driver_error: type[Exception], monkeypatch: pytest.MonkeyPatch
) -> None:
    protocol = _protocol(b"", monkeypatch)

    def failing(message: str) -> bytes:
        raise raised

    monkeypatch.setattr(protocol, "send_message", failing)
    with pytest.raises(driver_error), map_winrm_errors("h"):
        run_command(protocol, "S", "x")


# -- against the lab -----------------------------------------------------------------------------------
def test_get_vm_round_trips_through_the_templates(lab: LabDrivers) -> None:
    host = lab.host(A1)
    first = host.get_vm("db-01")
    assert [host.get_vm("db-01").id for _ in range(5)] == [first.id] * 5
    assert {vm.name for vm in host.list_vms()} >= {"db-01"}


def test_a_shell_the_host_dropped_is_reopened_once(lab: LabDrivers) -> None:
    host = WinRMHyperVHost.connect(lab.connection(A1, max_shells=1))
    lab.opened.append(host)
    host.get_vm("db-01")
    transport = host._transport
    assert isinstance(transport, WinRMTransport)
    transport._slots.acquire()  # wait for the background Signal to hand the channel back
    transport._slots.release()
    (channel,) = transport._idle
    old_shell = channel.shell_id
    assert old_shell is not None
    channel.protocol.close_shell(old_shell, close_session=False)  # the service drops it
    assert host.get_vm("db-01").name == "db-01"
    assert channel.shell_id not in (None, old_shell)
