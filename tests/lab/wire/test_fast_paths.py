"""The wire's fast paths read and write exactly what the straightforward code did.

- ``parse_request`` walks the header once instead of ElementPath lookups: compared here with the
  ElementPath reading (kept below as the oracle) on every message pywinrm sends and on odd shapes;
- a command's worker thread wakes the event loop only while a Receive watches it;
- a Command is answered before its script starts, and the driver's template-built messages (and the
  Receive that finds the script already done) round-trip over real HTTP;
- ``ConvertTo-Json``'s string escaping (a regex now) equals the character-by-character version.
"""

from __future__ import annotations

import asyncio
import base64
import random
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

import pytest
from aiohttp import web
from winrm.protocol import Protocol

from hvdr.hyperv.wsman import get_command_output_raw, run_command
from hvdr.lab.powershell import jsonout
from hvdr.lab.wsman import WinRMServer
from hvdr.lab.wsman.envelopes import NS, EnvelopeError, parse_duration, parse_request
from hvdr.lab.wsman.shells import HostShells, LabCommand
from tests.lab.wire.fakes import FakeHost

USER, PASSWORD = "administrator", "Lab-Passw0rd!"
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"


# -- parse_request ------------------------------------------------------------------------------------
def _oracle(body: bytes) -> dict[str, Any]:
    """The ElementPath reading parse_request replaced (the fields it produced)."""

    def text(root: ET.Element, path: str) -> str | None:
        node = root.find(path, NS)
        return None if node is None else (node.text or "")

    root = ET.fromstring(body)
    header, request_body = root.find("s:Header", NS), root.find("s:Body", NS)
    assert header is not None and request_body is not None
    out: dict[str, Any] = {
        "action": (text(header, "a:Action") or "").strip(),
        "message_id": (text(header, "a:MessageID") or "").strip(),
        "resource_uri": (text(header, "w:ResourceURI") or "").strip(),
        "shell_id": None,
        "operation_timeout_s": 60.0,
        "options": {},
        "command": "",
        "arguments": "",
        "command_id": None,
        "signal_code": None,
        "stdin": b"",
        "codepage": 437,
        "skip_cmd_shell": False,
    }
    timeout = text(header, "w:OperationTimeout")
    if timeout:
        out["operation_timeout_s"] = parse_duration(timeout)
    for selector in header.findall("w:SelectorSet/w:Selector", NS):
        if selector.get("Name") == "ShellId":
            out["shell_id"] = (selector.text or "").strip()
    for option in header.findall("w:OptionSet/w:Option", NS):
        out["options"][option.get("Name", "")] = (option.text or "").strip()
    action = out["action"]
    if action.endswith("/Create"):
        out["codepage"] = int(out["options"].get("WINRS_CODEPAGE", "437"))
    elif action.endswith("/Command"):
        out["command"] = text(request_body, "rsp:CommandLine/rsp:Command") or ""
        out["arguments"] = " ".join(
            (node.text or "") for node in request_body.findall("rsp:CommandLine/rsp:Arguments", NS)
        )
        out["skip_cmd_shell"] = out["options"].get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE"
    elif action.endswith("/Receive"):
        stream = request_body.find("rsp:Receive/rsp:DesiredStream", NS)
        out["command_id"] = None if stream is None else stream.get("CommandId")
    elif action.endswith("/Signal"):
        signal = request_body.find("rsp:Signal", NS)
        if signal is not None:
            out["command_id"] = signal.get("CommandId")
            out["signal_code"] = (text(signal, "rsp:Code") or "").strip()
    elif action.endswith("/Send"):
        stream = request_body.find("rsp:Send/rsp:Stream", NS)
        if stream is not None:
            out["command_id"] = stream.get("CommandId")
            out["stdin"] = base64.b64decode(stream.text or "")
    return out


def _pywinrm_messages() -> list[bytes]:
    protocol = Protocol("http://127.0.0.1:5985/wsman", transport="basic", username="u", password="p")
    sent: list[bytes] = []

    def record(message: str) -> bytes:
        sent.append(message.encode() if isinstance(message, str) else message)
        raise _Stop

    protocol.send_message = record  # type: ignore[method-assign]
    calls = [
        lambda: protocol.open_shell(codepage=65001, noprofile=True, env_vars={"A": "1"}),
        lambda: protocol.run_command("SHELL-1", "powershell -EncodedCommand QQA=", ["-x", "a&b<c>"]),
        lambda: protocol.run_command("SHELL-1", "cmd", skip_cmd_shell=True, console_mode_stdin=False),
        lambda: protocol.get_command_output_raw("SHELL-1", "CMD-1"),
        lambda: protocol.cleanup_command("SHELL-1", "CMD-1"),
        lambda: protocol.send_command_input("SHELL-1", "CMD-1", "input", end=True),
        lambda: protocol.close_shell("SHELL-1", close_session=False),
    ]
    for call in calls:
        with pytest.raises(_Stop):
            call()
    return sent


class _Stop(Exception):
    pass


def _odd_messages(base: bytes) -> list[bytes]:
    """Shapes pywinrm does not send but a client could: repeated sets, other selectors, a second action."""
    text = base.decode()
    option_set = (
        '<w:OptionSet><w:Option Name="WINRS_SKIP_CMD_SHELL">TRUE</w:Option><w:Option>x</w:Option></w:OptionSet>'
    )
    return [
        text.replace("</env:Header>", option_set + "</env:Header>").encode(),
        text.replace(
            "</env:Header>",
            '<w:SelectorSet><w:Selector Name="Other">o</w:Selector>'
            '<w:Selector Name="ShellId"> LAST </w:Selector></w:SelectorSet></env:Header>',
        ).encode(),
        text.replace(
            "</env:Header>",
            '<a:Action mustUnderstand="true">second</a:Action><w:OperationTimeout>PT0.5S</w:OperationTimeout>'
            "</env:Header>",
        ).encode(),
        text.replace(
            "<env:Body>",
            "<env:Body><rsp:CommandLine><rsp:Arguments>first</rsp:Arguments></rsp:CommandLine>",
        ).encode(),
    ]


def test_parse_request_reads_what_elementpath_reads() -> None:
    messages = _pywinrm_messages()
    assert len(messages) == 7
    command = messages[1]
    for body in [*messages, *_odd_messages(command), *_odd_messages(messages[3])]:
        assert asdict(parse_request(body)) == _oracle(body)


@pytest.mark.parametrize(
    "body",
    [
        b"<not-xml",
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>',
        b'<x:Envelope xmlns:x="urn:other"><x:Header/><x:Body/></x:Envelope>',
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body/></s:Envelope>',
    ],
)
def test_parse_request_refuses_what_it_refused(body: bytes) -> None:
    with pytest.raises(EnvelopeError):
        parse_request(body)


# -- wake-ups -----------------------------------------------------------------------------------------
class _CountingLoop:
    def __init__(self) -> None:
        self.calls = 0

    def call_soon_threadsafe(self, callback: Any, *args: Any) -> None:
        self.calls += 1
        callback(*args)


async def test_the_worker_wakes_the_loop_only_for_a_watching_receive() -> None:
    loop = _CountingLoop()
    cmd = LabCommand(loop, 65001)  # type: ignore[arg-type]
    cmd.write_stdout("early")
    assert loop.calls == 0 and not cmd.changed.is_set()
    cmd.watch()
    cmd.write_stdout("watched")
    assert loop.calls == 1 and cmd.changed.is_set()
    cmd.unwatch()
    cmd.finish(0, "")
    assert loop.calls == 1
    chunk = cmd.take()
    assert chunk is not None and chunk.stdout == b"earlywatched" and chunk.done and chunk.exit_code == 0


@pytest.fixture
async def wire() -> AsyncIterator[tuple[str, FakeHost]]:
    host = FakeHost("hv01.lab.local")
    server = WinRMServer({"hv01": host}, {"hv01": (USER, PASSWORD)})
    urls = await server.start()
    yield urls["hv01"], host
    await server.stop()


def _protocol(url: str) -> Protocol:
    return Protocol(url, transport="basic", username=USER, password=PASSWORD)


def _command(script: str) -> str:
    return "powershell -EncodedCommand " + base64.b64encode(script.encode("utf-16-le")).decode()


async def test_command_is_answered_before_its_script_starts(
    wire: tuple[str, FakeHost], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = wire
    events: list[str] = []
    original_run, original_write_eof = HostShells.run, web.StreamResponse.write_eof

    def run(self: HostShells, cmd: LabCommand, *args: Any) -> None:
        events.append("script started")
        original_run(self, cmd, *args)

    async def write_eof(self: web.StreamResponse, data: bytes = b"") -> None:
        if not self._eof_sent:
            events.append("answer written")
        await original_write_eof(self, data)

    monkeypatch.setattr(HostShells, "run", run)
    monkeypatch.setattr(web.StreamResponse, "write_eof", write_eof)

    def call() -> tuple[bytes, int, bool]:
        protocol = _protocol(url)
        shell = protocol.open_shell(codepage=65001)
        command_id = run_command(protocol, shell, _command("Get-VM | Select-Object -Property Name"))
        out, _, code, done = get_command_output_raw(protocol, shell, command_id)
        protocol.cleanup_command(shell, command_id)
        protocol.close_shell(shell)
        return out, code, done

    out, code, done = await asyncio.to_thread(call)
    assert (out, code, done) == (b"\r\nName : web-01\r\n\r\n\r\nName : db-01\r\n\r\n", 0, True)
    # Create answered; Command answered, then its script started; Receive, Signal, Delete answered.
    assert events == ["answer written", "answer written", "script started", *["answer written"] * 3]


async def test_receive_waiting_on_a_running_script_is_woken(wire: tuple[str, FakeHost]) -> None:
    url, _ = wire

    def call() -> list[tuple[bytes, int, bool]]:
        protocol = _protocol(url)
        shell = protocol.open_shell(codepage=65001)
        command_id = run_command(protocol, shell, _command("Start-Sleep -Milliseconds 200\nWrite-Output 'late'"))
        seen = []
        while True:
            out, _, code, done = get_command_output_raw(protocol, shell, command_id)
            seen.append((out, code, done))
            if done:
                return seen

    seen = await asyncio.to_thread(call)
    assert b"".join(out for out, _, _ in seen) == b"late\r\n"
    assert seen[-1][1:] == (0, True)


# -- ConvertTo-Json strings -----------------------------------------------------------------------------
def _string_reference(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = ['"']
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ch < " " or ch in "<>&'":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def test_json_string_escaping_matches_the_reference() -> None:
    alphabet = [chr(i) for i in range(0x80)] + ["\u2019", "\u00e9", "\u4e2d", "\U0001f600", "\u2028", "\x7f"]
    rng = random.Random(7)
    samples = ["", "plain", "C:\\ProgramData\\x"]
    samples += ["".join(rng.choices(alphabet, k=rng.randint(0, 16))) for _ in range(3000)]
    for text in samples:
        assert jsonout._string(text) == _string_reference(text)
