"""Read PowerShell's error records from a failed command's stderr and classify them.

Windows PowerShell writes errors to stderr as CLIXML (``#< CLIXML`` then ``<Objs>`` with one
``<S S="Error">`` per line of the default error view). The lines carry what the driver needs::

    Start-VMFailover : The operation cannot be performed while ...
    At line:2 char:1
    + Start-VMFailover -VMName 'db-01' -Confirm:$false
    + ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
        + CategoryInfo          : InvalidOperation: (db-01:String) [Start-VMFailover], VirtualizationException
        + FullyQualifiedErrorId : OperationFailed_InvalidReplicationState,Microsoft.HyperV.PowerShell.Commands…
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from hvdr.hyperv.errors import (
    HyperVError,
    InvalidParameter,
    InvalidReplicationState,
    InvalidVMState,
    ReplicaServerUnreachable,
    ReplicationAuthenticationFailed,
    ScriptFailed,
    VMNotFound,
)

_HEADER = "#< CLIXML"
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_CATEGORY = re.compile(r"^\s*\+\s*CategoryInfo\s*:\s*(\w+):")
_FQID = re.compile(r"^\s*\+\s*FullyQualifiedErrorId\s*:\s*([^,\s]+)(?:,(\S+))?")
_POSITION = re.compile(r"^At line:\d+ char:\d+")
_VM_NOT_FOUND = re.compile(r'unable to find a virtual machine with name "(.*)"', re.DOTALL)

REPLICATION_STATE_IDS = frozenset(
    {
        "OperationFailed_InvalidReplicationState",
        "VMReplication_ActionNotApplicableOnPrimary",
        "VMReplication_ActionNotApplicableOnReplica",
        "VMReplication_ActionNotApplicableOnTestReplica",
        "VMReplication_ActionNotApplicable_None",
        "VMReplication_AlreadyEnabled",
        "VMReplication_ReplicationNotEnabled",
        "VMReplication_TestFailoverInProgress",
        "VMReplication_ReplicaAlreadyExists",
    }
)
VM_STATE_IDS = frozenset({"OperationFailed_InvalidState"})
PARAMETER_IDS = frozenset(
    {
        "InvalidParameter_InvalidUri",
        "InvalidParameter_ConflictingParameters",
        "InvalidArgument_ParameterNotProvided",
        "VMReplication_AppConsistentWithoutRecoveryHistory",
        "VMFailover_OnlyValidParameterOnPrimary",
        "VMFailover_InvalidSnapshot",
        "InvalidOperation_NoSettingsChanged",
        "VMReplication_CannotModifySettingsOnReplica",
        "VMReplication_Reverse_CertificateThumbprintNotProvided",
        "VMReplication_InitialReplicationMediaNotFound",
        "VMReplication_ExtendedReplicationNotSupported",
        "ParameterArgumentValidationError",
        "ParameterArgumentTransformationError",
        "NamedParameterNotFound",
        "PositionalParameterNotFound",
        "MissingMandatoryParameter",
        "AmbiguousParameter",
        "AmbiguousParameterSet",
        "InvalidParameter",
        "ObjectNotFound",
        "InvalidCastParseTargetInvocation",
    }
)
UNREACHABLE_IDS = frozenset({"VMReplication_ReplicaServerUnreachable"})
REPLICATION_AUTH_IDS = frozenset({"VMReplication_AuthenticationFailed"})


@dataclass(frozen=True)
class PSErrorInfo:
    """One error record as read back from the error view."""

    message: str
    category: str | None
    error_id: str | None
    command: str | None
    text: str


def _decode(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def clixml_text(stderr: str) -> str:
    """The error view's text (the ``S="Error"`` lines), or ``stderr`` itself when it is not CLIXML."""
    stripped = stderr.lstrip("\ufeff")
    if not stripped.startswith(_HEADER):
        return stderr.strip()
    xml = stripped[len(_HEADER) :].strip()
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return stderr.strip()
    lines = [node.text or "" for node in root.iter() if node.tag.rsplit("}", 1)[-1] == "S" and node.get("S") == "Error"]
    return _decode("".join(lines)).replace("\r\n", "\n").strip()


def parse_error(stderr: str) -> PSErrorInfo:
    text = clixml_text(stderr)
    category = error_id = command = None
    message_lines: list[str] = []
    in_position = False
    for line in text.splitlines():
        if match := _CATEGORY.match(line):
            category = match.group(1)
            continue
        if match := _FQID.match(line):
            error_id = match.group(1)
            continue
        if _POSITION.match(line):
            in_position = True
            continue
        if in_position and line.startswith("+"):
            continue
        in_position = False
        if line.strip():
            message_lines.append(line.rstrip())
    message = "\n".join(message_lines)
    head, sep, rest = message.partition(" : ")
    if sep and re.fullmatch(r"[A-Za-z]+-[A-Za-z0-9]+", head):
        command, message = head, rest
    return PSErrorInfo(message.strip() or text, category, error_id, command, text)


def classify(
    info: PSErrorInfo, *, operation: str, host: str | None = None, exit_code: int | None = None
) -> HyperVError:
    """The taxonomy class for one PowerShell error (classified on the error id, then the category)."""
    kwargs = {"host": host, "error_id": info.error_id, "category": info.category}
    error_id = info.error_id or ""
    message = info.message
    if info.command:
        message = f"{info.command}: {message}"
    if error_id == "InvalidParameter" and (match := _VM_NOT_FOUND.search(info.message)):
        return VMNotFound(match.group(1), message, **kwargs)
    if error_id in VM_STATE_IDS:
        return InvalidVMState(message, operation=operation, **kwargs)
    if error_id in REPLICATION_STATE_IDS:
        return InvalidReplicationState(message, operation=operation, **kwargs)
    if error_id in PARAMETER_IDS:
        return InvalidParameter(message, **kwargs)
    if error_id in UNREACHABLE_IDS:
        return ReplicaServerUnreachable(message, **kwargs)
    if error_id in REPLICATION_AUTH_IDS:
        return ReplicationAuthenticationFailed(message, **kwargs)
    return ScriptFailed(message, script_exit_code=exit_code, **kwargs)
