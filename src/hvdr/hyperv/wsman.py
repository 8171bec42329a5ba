"""The two WS-Management messages on the driver's hot path, built from string templates.

Every script the driver runs costs a Command and a Receive on a reused shell. pywinrm builds each request
as a nested dict rendered by ``xmltodict.unparse`` (about 0.4 ms of CPU a message, a good share of a
round trip against a fast host); :func:`command_message` and :func:`receive_message` produce the same
envelopes from templates: the same namespace declarations, the same headers (To, ReplyTo, MaxEnvelopeSize,
MessageID, Locale, DataLocale, OperationTimeout, ResourceURI, Action, the ShellId selector and, for
Command, the WINRS_CONSOLEMODE_STDIN / WINRS_SKIP_CMD_SHELL options) and the same body, with text and
attribute values escaped as xmltodict escapes them. ``xmltodict.parse`` of either message equals that of
pywinrm's for the same inputs (tests/hyperv/test_wsman.py checks it).

They are sent with pywinrm's own ``Protocol.send_message`` (its transport: auth, message encryption, TLS,
and SOAP faults turned into ``WSManFaultError`` / ``WinRMOperationTimeoutError``), and the responses are
read exactly as ``Protocol.run_command`` / ``Protocol.get_command_output_raw`` read them. Shell creation,
Signal and Delete stay on pywinrm.
"""

from __future__ import annotations

import base64
import binascii
import random
import uuid
import xml.etree.ElementTree as ET
from typing import cast
from xml.sax.saxutils import escape, quoteattr

from winrm.exceptions import WinRMError
from winrm.protocol import Protocol

SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
RESOURCE_URI = f"{SHELL_URI}/cmd"
ACTION_COMMAND = f"{SHELL_URI}/Command"
ACTION_RECEIVE = f"{SHELL_URI}/Receive"
ACTION_SIGNAL = f"{SHELL_URI}/Signal"
SIGNAL_TERMINATE = f"{SHELL_URI}/signal/terminate"
_DONE_SUFFIX = "CommandState/Done"

# What xmltodict.unparse writes for Protocol.build_wsman_header (pywinrm 0.5), in the same order.
_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
    'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
    'xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config">'
    "<env:Header>"
    "<a:To>http://windows-host:5985/wsman</a:To>"
    '<a:ReplyTo><a:Address mustUnderstand="true">'
    "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"
    '<w:MaxEnvelopeSize mustUnderstand="true">153600</w:MaxEnvelopeSize>'
    "<a:MessageID>uuid:"
)
_AFTER_MESSAGE_ID = (
    "</a:MessageID>"
    '<w:Locale mustUnderstand="false" xml:lang="en-US"></w:Locale>'
    '<p:DataLocale mustUnderstand="false" xml:lang="en-US"></p:DataLocale>'
    "<w:OperationTimeout>PT"
)
_AFTER_TIMEOUT = (
    "S</w:OperationTimeout>"
    f'<w:ResourceURI mustUnderstand="true">{RESOURCE_URI}</w:ResourceURI>'
    '<a:Action mustUnderstand="true">'
)
_AFTER_ACTION = '</a:Action><w:SelectorSet><w:Selector Name="ShellId">'
_AFTER_SHELL_ID = "</w:Selector></w:SelectorSet>"


def message_uuid() -> uuid.UUID:
    """A random (version 4) UUID for a:MessageID without ``os.urandom``: a system call on every message
    releases the GIL, and the background Signal thread then holds the caller up; ``random`` is seeded from
    the system once (and again after a fork), which is all a message id needs: uniqueness, not secrecy."""
    return uuid.UUID(int=random.getrandbits(128), version=4)


def _header(action: str, shell_id: str, message_id: uuid.UUID | str | None, operation_timeout_s: int) -> str:
    """``<env:Envelope …><env:Header>…`` up to and including the ShellId selector (header still open)."""
    return "".join(
        (
            _ENVELOPE_OPEN,
            str(message_id or message_uuid()),
            _AFTER_MESSAGE_ID,
            str(int(operation_timeout_s)),
            _AFTER_TIMEOUT,
            action,
            _AFTER_ACTION,
            escape(shell_id),
            _AFTER_SHELL_ID,
        )
    )


def command_message(
    shell_id: str,
    command: str,
    *,
    operation_timeout_s: int,
    message_id: uuid.UUID | str | None = None,
    console_mode_stdin: bool = True,
    skip_cmd_shell: bool = False,
) -> str:
    """What ``Protocol.run_command(shell_id, command)`` sends (no arguments: the driver passes none)."""
    return "".join(
        (
            _header(ACTION_COMMAND, shell_id, message_id, operation_timeout_s),
            '<w:OptionSet><w:Option Name="WINRS_CONSOLEMODE_STDIN">',
            str(console_mode_stdin).upper(),
            '</w:Option><w:Option Name="WINRS_SKIP_CMD_SHELL">',
            str(skip_cmd_shell).upper(),
            "</w:Option></w:OptionSet></env:Header>",
            "<env:Body><rsp:CommandLine><rsp:Command>",
            escape(command),
            "</rsp:Command></rsp:CommandLine></env:Body></env:Envelope>",
        )
    )


def receive_message(
    shell_id: str, command_id: str, *, operation_timeout_s: int, message_id: uuid.UUID | str | None = None
) -> str:
    """What ``Protocol.get_command_output_raw(shell_id, command_id)`` sends."""
    return "".join(
        (
            _header(ACTION_RECEIVE, shell_id, message_id, operation_timeout_s),
            "</env:Header><env:Body><rsp:Receive><rsp:DesiredStream CommandId=",
            quoteattr(command_id),
            ">stdout stderr</rsp:DesiredStream></rsp:Receive></env:Body></env:Envelope>",
        )
    )


def signal_message(
    shell_id: str, command_id: str, *, operation_timeout_s: int, message_id: uuid.UUID | str | None = None
) -> str:
    """What ``Protocol.cleanup_command(shell_id, command_id)`` sends (Signal terminate)."""
    return "".join(
        (
            _header(ACTION_SIGNAL, shell_id, message_id, operation_timeout_s),
            "</env:Header><env:Body><rsp:Signal CommandId=",
            quoteattr(command_id),
            "><rsp:Code>",
            SIGNAL_TERMINATE,
            "</rsp:Code></rsp:Signal></env:Body></env:Envelope>",
        )
    )


def _root(response: bytes, operation: str) -> ET.Element:
    try:
        return ET.fromstring(response)
    except ET.ParseError:
        raise WinRMError(f"{operation}: the response is not XML") from None


def parse_command_response(response: bytes) -> str:
    """The CommandId, found as ``Protocol.run_command`` finds it (the first element whose tag ends so)."""
    root = _root(response, "Command")
    node = next((node for node in root.iter() if node is not root and node.tag.endswith("CommandId")), None)
    if node is None:
        raise WinRMError("Command: no CommandId in the response")
    return cast(str, node.text)


def parse_receive_response(response: bytes) -> tuple[bytes, bytes, int, bool]:
    """(stdout, stderr, exit code, done), read as ``Protocol.get_command_output_raw`` reads them.

    Where pywinrm would fail with a bare StopIteration, KeyError or ValueError on a malformed answer,
    this raises :class:`~winrm.exceptions.WinRMError` (which the driver maps to WinRMServiceError).
    """
    root = _root(response, "Receive")
    stdout: list[bytes] = []
    stderr: list[bytes] = []
    done_states = 0
    exit_code_text: str | None = None
    exit_code_seen = False
    for node in root.iter():
        if node is root:
            continue
        tag = node.tag
        if tag.endswith("Stream") and node.text:
            name = node.get("Name")
            if name is None:
                raise WinRMError("Receive: a Stream without a Name")
            if name == "stdout":
                stdout.append(_b64(node.text))
            elif name == "stderr":
                stderr.append(_b64(node.text))
        if node.get("State", "").endswith(_DONE_SUFFIX):
            done_states += 1
        if not exit_code_seen and tag.endswith("ExitCode"):
            exit_code_seen = True
            exit_code_text = node.text
    done = done_states == 1
    return_code = -1
    if done:
        if not exit_code_seen:
            raise WinRMError("Receive: CommandState Done without an ExitCode")
        try:
            return_code = int(exit_code_text or -1)
        except ValueError:
            raise WinRMError(f"Receive: ExitCode {exit_code_text!r} is not an integer") from None
    return b"".join(stdout), b"".join(stderr), return_code, done


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError):
        raise WinRMError("Receive: a Stream is not base64") from None


def run_command(protocol: Protocol, shell_id: str, command: str) -> str:
    """``protocol.run_command(shell_id, command)`` with a template-built envelope."""
    message = command_message(shell_id, command, operation_timeout_s=protocol.operation_timeout_sec)
    return parse_command_response(protocol.send_message(message))


def get_command_output_raw(protocol: Protocol, shell_id: str, command_id: str) -> tuple[bytes, bytes, int, bool]:
    """``protocol.get_command_output_raw(shell_id, command_id)`` with a template-built envelope."""
    message = receive_message(shell_id, command_id, operation_timeout_s=protocol.operation_timeout_sec)
    return parse_receive_response(protocol.send_message(message))


def cleanup_command(protocol: Protocol, shell_id: str, command_id: str) -> None:
    """``protocol.cleanup_command(shell_id, command_id)`` with a template-built envelope; like pywinrm it checks
    that the answer relates to this message."""
    message_id = message_uuid()
    message = signal_message(
        shell_id, command_id, operation_timeout_s=protocol.operation_timeout_sec, message_id=message_id
    )
    root = _root(protocol.send_message(message), "Signal")
    relates_to = next((node.text for node in root.iter() if node.tag.endswith("RelatesTo")), None)
    if relates_to is None or relates_to.replace("uuid:", "").strip() != str(message_id):
        raise WinRMError("Signal: the answer does not relate to the request (RelatesTo mismatch)")
