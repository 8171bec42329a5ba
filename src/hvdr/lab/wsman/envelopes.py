"""Parse the WS-Management requests pywinrm sends (Create, Command, Receive, Signal, Send, Delete)."""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = f"{SHELL_URI}/Command"
ACTION_RECEIVE = f"{SHELL_URI}/Receive"
ACTION_SIGNAL = f"{SHELL_URI}/Signal"
ACTION_SEND = f"{SHELL_URI}/Send"
SIGNAL_TERMINATE = f"{SHELL_URI}/signal/terminate"
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


class EnvelopeError(Exception):
    """The request is not a WS-Management message the lab understands (answered with a SOAP fault)."""


@dataclass
class WSManRequest:
    action: str
    message_id: str
    resource_uri: str = ""
    shell_id: str | None = None
    operation_timeout_s: float = 60.0
    options: dict[str, str] = field(default_factory=dict)
    command: str = ""
    arguments: str = ""
    command_id: str | None = None
    signal_code: str | None = None
    stdin: bytes = b""
    codepage: int = 437
    skip_cmd_shell: bool = False


def parse_duration(text: str) -> float:
    """An xs:duration such as ``PT20S`` or ``PT0.500S`` in seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise EnvelopeError(f"invalid OperationTimeout {text!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def _text(root: ET.Element, path: str) -> str | None:
    node = root.find(path, NS)
    return None if node is None else (node.text or "")


def parse_request(body: bytes) -> WSManRequest:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise EnvelopeError(f"malformed XML: {exc}") from None
    header = root.find("s:Header", NS)
    request_body = root.find("s:Body", NS)
    if root.tag != f"{{{NS['s']}}}Envelope" or header is None or request_body is None:
        raise EnvelopeError("not a SOAP 1.2 envelope")
    action = _text(header, "a:Action")
    message_id = _text(header, "a:MessageID")
    if not action or not message_id:
        raise EnvelopeError("missing a:Action or a:MessageID")
    request = WSManRequest(action=action.strip(), message_id=message_id.strip())
    request.resource_uri = (_text(header, "w:ResourceURI") or "").strip()
    timeout = _text(header, "w:OperationTimeout")
    if timeout:
        request.operation_timeout_s = parse_duration(timeout)
    for selector in header.findall("w:SelectorSet/w:Selector", NS):
        if selector.get("Name") == "ShellId":
            request.shell_id = (selector.text or "").strip()
    for option in header.findall("w:OptionSet/w:Option", NS):
        request.options[option.get("Name", "")] = (option.text or "").strip()
    if request.action == ACTION_CREATE:
        try:
            request.codepage = int(request.options.get("WINRS_CODEPAGE", "437"))
        except ValueError:
            raise EnvelopeError("invalid WINRS_CODEPAGE") from None
    elif request.action == ACTION_COMMAND:
        request.command = _text(request_body, "rsp:CommandLine/rsp:Command") or ""
        request.arguments = " ".join(
            (node.text or "") for node in request_body.findall("rsp:CommandLine/rsp:Arguments", NS)
        )
        request.skip_cmd_shell = request.options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE"
    elif request.action == ACTION_RECEIVE:
        stream = request_body.find("rsp:Receive/rsp:DesiredStream", NS)
        request.command_id = None if stream is None else stream.get("CommandId")
    elif request.action == ACTION_SIGNAL:
        signal = request_body.find("rsp:Signal", NS)
        if signal is not None:
            request.command_id = signal.get("CommandId")
            request.signal_code = (_text(signal, "rsp:Code") or "").strip()
    elif request.action == ACTION_SEND:
        stream = request_body.find("rsp:Send/rsp:Stream", NS)
        if stream is not None:
            request.command_id = stream.get("CommandId")
            try:
                request.stdin = base64.b64decode(stream.text or "")
            except binascii.Error:
                raise EnvelopeError("stdin is not base64") from None
    return request
