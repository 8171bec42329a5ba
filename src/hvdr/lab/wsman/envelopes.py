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


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


_ENVELOPE, _HEADER, _BODY = _q("s", "Envelope"), _q("s", "Header"), _q("s", "Body")
_ACTION, _MESSAGE_ID = _q("a", "Action"), _q("a", "MessageID")
_RESOURCE_URI, _OPERATION_TIMEOUT = _q("w", "ResourceURI"), _q("w", "OperationTimeout")
_SELECTOR_SET, _SELECTOR = _q("w", "SelectorSet"), _q("w", "Selector")
_OPTION_SET, _OPTION = _q("w", "OptionSet"), _q("w", "Option")
_COMMAND_LINE, _COMMAND, _ARGUMENTS = _q("rsp", "CommandLine"), _q("rsp", "Command"), _q("rsp", "Arguments")
_RECEIVE, _DESIRED_STREAM = _q("rsp", "Receive"), _q("rsp", "DesiredStream")
_SIGNAL, _CODE = _q("rsp", "Signal"), _q("rsp", "Code")
_SEND, _STREAM = _q("rsp", "Send"), _q("rsp", "Stream")


def _child(parent: ET.Element, tag: str) -> ET.Element | None:
    """The first child with that tag (``parent.find(tag)`` without ElementPath)."""
    for node in parent:
        if node.tag == tag:
            return node
    return None


def _grandchild(parent: ET.Element, tag: str, child_tag: str) -> ET.Element | None:
    """The first ``tag/child_tag`` element, in document order (``parent.find("tag/child_tag")``)."""
    for node in parent:
        if node.tag == tag:
            found = _child(node, child_tag)
            if found is not None:
                return found
    return None


def parse_request(body: bytes) -> WSManRequest:
    """One pass over the header's children, then the body element the action needs.

    Equivalent to looking each value up with ``find`` (the first a:Action, a:MessageID, w:ResourceURI and
    w:OperationTimeout count; every w:SelectorSet/w:Selector and w:OptionSet/w:Option is read, later ones
    winning), only without ElementPath, which was most of the cost of a request.
    """
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise EnvelopeError(f"malformed XML: {exc}") from None
    header = _child(root, _HEADER)
    request_body = _child(root, _BODY)
    if root.tag != _ENVELOPE or header is None or request_body is None:
        raise EnvelopeError("not a SOAP 1.2 envelope")
    first: dict[str, str] = {}
    shell_id: str | None = None
    options: dict[str, str] = {}
    for node in header:
        tag = node.tag
        if tag == _SELECTOR_SET:
            for selector in node:
                if selector.tag == _SELECTOR and selector.get("Name") == "ShellId":
                    shell_id = (selector.text or "").strip()
        elif tag == _OPTION_SET:
            for option in node:
                if option.tag == _OPTION:
                    options[option.get("Name", "")] = (option.text or "").strip()
        elif tag not in first:
            first[tag] = node.text or ""
    action = first.get(_ACTION)
    message_id = first.get(_MESSAGE_ID)
    if not action or not message_id:
        raise EnvelopeError("missing a:Action or a:MessageID")
    request = WSManRequest(action=action.strip(), message_id=message_id.strip(), shell_id=shell_id, options=options)
    request.resource_uri = first.get(_RESOURCE_URI, "").strip()
    timeout = first.get(_OPERATION_TIMEOUT)
    if timeout:
        request.operation_timeout_s = parse_duration(timeout)
    if request.action == ACTION_COMMAND:
        command = _grandchild(request_body, _COMMAND_LINE, _COMMAND)
        request.command = "" if command is None else (command.text or "")
        request.arguments = " ".join(
            (node.text or "")
            for line in request_body
            if line.tag == _COMMAND_LINE
            for node in line
            if node.tag == _ARGUMENTS
        )
        request.skip_cmd_shell = options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE"
    elif request.action == ACTION_RECEIVE:
        stream = _grandchild(request_body, _RECEIVE, _DESIRED_STREAM)
        request.command_id = None if stream is None else stream.get("CommandId")
    elif request.action == ACTION_CREATE:
        try:
            request.codepage = int(options.get("WINRS_CODEPAGE", "437"))
        except ValueError:
            raise EnvelopeError("invalid WINRS_CODEPAGE") from None
    elif request.action == ACTION_SIGNAL:
        signal = _child(request_body, _SIGNAL)
        if signal is not None:
            request.command_id = signal.get("CommandId")
            code = _child(signal, _CODE)
            request.signal_code = "" if code is None else (code.text or "").strip()
    elif request.action == ACTION_SEND:
        stream = _grandchild(request_body, _SEND, _STREAM)
        if stream is not None:
            request.command_id = stream.get("CommandId")
            try:
                request.stdin = base64.b64decode(stream.text or "")
            except binascii.Error:
                raise EnvelopeError("stdin is not base64") from None
    return request
