"""Build WS-Management response envelopes and SOAP faults (the shapes a Windows WinRM service sends)."""

from __future__ import annotations

import base64
import random
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from hvdr.lab.wsman.envelopes import NS, SHELL_URI

FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
CODE_OPERATION_TIMEOUT = 2150858793
CODE_SHELL_NOT_FOUND = 2150858843
CODE_INVALID_COMMAND_ID = 2150858779
CODE_INTERNAL_ERROR = 2147500037
CODE_BAD_REQUEST = 2150858817
MSG_OPERATION_TIMEOUT = (
    "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "
)

_ENVELOPE_OPEN = (
    f'<s:Envelope xml:lang="en-US" xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:x="{NS["x"]}" '
    f'xmlns:w="{NS["w"]}" xmlns:rsp="{NS["rsp"]}" xmlns:p="{NS["p"]}">'
)


def new_uuid() -> uuid.UUID:
    """A version 4 UUID from ``random`` (seeded from the system): ``uuid.uuid4`` reads ``os.urandom``, a
    system call that releases the GIL to a running script's thread while an answer is being built."""
    return uuid.UUID(int=random.getrandbits(128), version=4)


def _envelope(action: str, relates_to: str, body: str) -> bytes:
    header = (
        f"<s:Header><a:Action>{escape(action)}</a:Action>"
        f"<a:MessageID>uuid:{new_uuid()}</a:MessageID>"
        "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header>"
    )
    return (_ENVELOPE_OPEN + header + f"<s:Body>{body}</s:Body></s:Envelope>").encode("utf-8")


def create_response(relates_to: str, shell_id: str, endpoint: str) -> bytes:
    body = (
        f"<x:ResourceCreated><a:Address>{escape(endpoint)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{SHELL_URI}/cmd</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{escape(shell_id)}</w:Selector></w:SelectorSet>'
        "</a:ReferenceParameters></x:ResourceCreated>"
        f"<rsp:Shell><rsp:ShellId>{escape(shell_id)}</rsp:ShellId><rsp:ResourceUri>{SHELL_URI}/cmd"
        "</rsp:ResourceUri><rsp:InputStreams>stdin</rsp:InputStreams>"
        "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
    )
    return _envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", relates_to, body)


def command_response(relates_to: str, command_id: str) -> bytes:
    body = f"<rsp:CommandResponse><rsp:CommandId>{escape(command_id)}</rsp:CommandId></rsp:CommandResponse>"
    return _envelope(f"{SHELL_URI}/CommandResponse", relates_to, body)


@dataclass
class ReceiveChunk:
    stdout: bytes
    stderr: bytes
    done: bool
    exit_code: int | None


def receive_response(relates_to: str, command_id: str, chunk: ReceiveChunk) -> bytes:
    cid = quoteattr(command_id)
    parts = ["<rsp:ReceiveResponse>"]
    for name, data in (("stdout", chunk.stdout), ("stderr", chunk.stderr)):
        if data:
            parts.append(f'<rsp:Stream Name="{name}" CommandId={cid}>{base64.b64encode(data).decode()}</rsp:Stream>')
    if chunk.done:
        parts.append(f'<rsp:Stream Name="stdout" CommandId={cid} End="true"></rsp:Stream>')
        parts.append(f'<rsp:Stream Name="stderr" CommandId={cid} End="true"></rsp:Stream>')
        parts.append(
            f'<rsp:CommandState CommandId={cid} State="{SHELL_URI}/CommandState/Done">'
            f"<rsp:ExitCode>{chunk.exit_code}</rsp:ExitCode></rsp:CommandState>"
        )
    else:
        parts.append(f'<rsp:CommandState CommandId={cid} State="{SHELL_URI}/CommandState/Running"/>')
    parts.append("</rsp:ReceiveResponse>")
    return _envelope(f"{SHELL_URI}/ReceiveResponse", relates_to, "".join(parts))


def signal_response(relates_to: str) -> bytes:
    return _envelope(f"{SHELL_URI}/SignalResponse", relates_to, "<rsp:SignalResponse/>")


def send_response(relates_to: str) -> bytes:
    return _envelope(f"{SHELL_URI}/SendResponse", relates_to, "<rsp:SendResponse/>")


def delete_response(relates_to: str) -> bytes:
    return _envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", relates_to, "")


def fault(relates_to: str, *, code: int, subcode: str, reason: str, machine: str, receiver: bool = True) -> bytes:
    """A SOAP 1.2 fault with a WSManFault detail; sent with HTTP 500 as the WinRM service does."""
    value = "s:Receiver" if receiver else "s:Sender"
    body = (
        f"<s:Fault><s:Code><s:Value>{value}</s:Value><s:Subcode><s:Value>{escape(subcode)}</s:Value></s:Subcode>"
        f'</s:Code><s:Reason><s:Text xml:lang="en-US">{escape(reason)}</s:Text></s:Reason><s:Detail>'
        f'<f:WSManFault xmlns:f="{NS["f"]}" Code="{code}" Machine={quoteattr(machine)}>'
        f"<f:Message>{escape(reason)}</f:Message></f:WSManFault></s:Detail></s:Fault>"
    )
    return _envelope(FAULT_ACTION, relates_to, body)


def operation_timeout_fault(relates_to: str, machine: str) -> bytes:
    return fault(
        relates_to, code=CODE_OPERATION_TIMEOUT, subcode="w:TimedOut", reason=MSG_OPERATION_TIMEOUT, machine=machine
    )


def shell_not_found_fault(relates_to: str, shell_id: str, machine: str) -> bytes:
    reason = (
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not "
        "found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer "
        "exists on the server. Provide the correct ShellId or create a new shell and retry the operation. "
    )
    return fault(
        relates_to,
        code=CODE_SHELL_NOT_FOUND,
        subcode="w:InvalidSelectors",
        reason=reason,
        machine=machine,
        receiver=False,
    )
