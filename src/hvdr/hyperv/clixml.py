"""Read PowerShell's error records from a failed command's stderr and classify them.

Windows PowerShell writes errors to stderr as CLIXML (``#< CLIXML`` then ``<Objs>`` with one
``<S S="Error">`` per line of the default error view). The lines carry what the driver needs (a real host's
record, from a public transcript; tests/hyperv/transcripts holds more)::

    Get-VM : Hyper-V was unable to find a virtual machine with name "minikube".
    At line:1 char:3
    + ( Hyper-V\\Get-VM minikube ).state
    +   ~~~~~~~~~~~~~~~~~~~~~~~
        + CategoryInfo          : InvalidArgument: (minikube:String) [Get-VM], VirtualizationException
        + FullyQualifiedErrorId : InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM

The driver classifies on the identifier (the FullyQualifiedErrorId's first part) and the cmdlet class (its
second part), never on the message alone: messages are localized, and the category of one failure differs
between Hyper-V versions (a missing VM: ``InvalidArgument`` or ``ObjectNotFound``, ``NotSpecified`` on older
hosts). Windows Server 2012's module names its classes ``…Commands.GetVMCommand``; both forms are read.

==========================================  ===========================  =====================================
identifier                                  cmdlet class                 class
==========================================  ===========================  =====================================
PowerShell's binder ids (:data:`BINDER_IDS`)  any                        InvalidParameter
``InvalidState``                            any                          InvalidReplicationState (the host
                                                                         reads the state back before deciding)
``InvalidParameter``                        target is the VM asked for   VMNotFound
``InvalidParameter``                        otherwise                    InvalidParameter
``ObjectNotFound``                          a *-VMReplication cmdlet     InvalidReplicationState (replication
                                                                         not enabled, no replica)
``ObjectNotFound``                          target is the VM asked for   VMNotFound
``ObjectNotFound``                          otherwise                    InvalidParameter
``OperationFailed``                         a cmdlet that contacts the   ReplicaServerUnreachable
                                            Replica server               (ResourceExists: InvalidReplicationState;
                                                                         PermissionDenied: ReplicationAuth…;
                                                                         ResourceUnavailable: ReplicaStorageFull)
``AccessDenied``                            one of those                 ReplicationAuthenticationFailed
anything else (``OperationFailed``          any                          ScriptFailed
elsewhere, ``OutOfMemory``, ``Unspecified``,
``AccessDenied`` elsewhere)
==========================================  ===========================  =====================================
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from hvdr.hyperv.errors import (
    HyperVError,
    InvalidParameter,
    InvalidReplicationState,
    ReplicaServerUnreachable,
    ReplicaStorageFull,
    ReplicationAuthenticationFailed,
    ScriptFailed,
    VMNotFound,
)

_HEADER = "#< CLIXML"
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_CATEGORY = re.compile(r"^\s*\+?\s*CategoryInfo\s*:\s*(\w+):\s*\((.*)\)\s*\[([^\]]*)\]\W*([\w.]*)")
_FQID = re.compile(r"^\s*\+?\s*FullyQualifiedErrorId\s*:\s*([^,\s]+)(?:,(\S+))?")
_POSITION = re.compile(r"^At line:\d+ char:\d+")
_VM_NOT_FOUND = re.compile(r'unable to find a virtual machine with name "(.*)"', re.DOTALL)
HYPERV_COMMANDS = "Microsoft.HyperV.PowerShell.Commands."

BINDER_IDS = frozenset(
    {
        "NamedParameterNotFound",
        "AmbiguousParameter",
        "AmbiguousParameterSet",
        "ParameterAlreadyBound",
        "PositionalParameterNotFound",
        "MissingMandatoryParameter",
        "MissingArgument",
        "ParameterArgumentTransformationError",
        "ParameterArgumentValidationError",
        "CannotConvertArgument",
        "CannotConvertArgumentNoMessage",
        "InputObjectNotBound",
    }
)
"""PowerShell's parameter binder (ParameterBindingException and its subclasses)."""
HYPERV_IDS = frozenset(
    {
        "InvalidState",
        "InvalidParameter",
        "ObjectNotFound",
        "OperationFailed",
        "AccessDenied",
        "OutOfMemory",
        "Unspecified",
    }
)
"""The VirtualizationException identifiers this driver names (reference §3.5 and public transcripts)."""
REPLICATION_CLASSES = frozenset(
    {
        "GetVMReplication",
        "MeasureVMReplication",
        "SuspendVMReplication",
        "ResumeVMReplication",
        "StopVMReplication",
        "RemoveVMReplication",
        "SetVMReplication",
        "ResetVMReplicationStatistics",
    }
)
"""Cmdlets that act on an existing replication relationship (ObjectNotFound: there is none)."""
PARTNER_CLASSES = frozenset(
    {
        "TestVMReplicationConnection",
        "EnableVMReplication",
        "StartVMInitialReplication",
        "ResumeVMReplication",
        "SetVMReplication",
        "StartVMFailover",
    }
)
"""Cmdlets that contact the Replica server (OperationFailed: it could not be reached or used)."""


@dataclass(frozen=True)
class PSErrorInfo:
    """One error record as read back from the error view."""

    message: str
    category: str | None
    error_id: str | None
    command: str | None
    text: str
    target: str | None = None
    command_class: str | None = None
    """The implementing class without namespace or WS2012's ``Command`` suffix (``StartVMFailover``)."""
    exception: str | None = None


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
    """The first error record in ``stderr`` (the one that ended the script)."""
    text = clixml_text(stderr)
    category = error_id = command = target = command_class = exception = None
    message_lines: list[str] = []
    in_position = False
    for line in text.splitlines():
        if match := _CATEGORY.match(line):
            if category is None:
                category, target, exception = match.group(1), _target(match.group(2)), match.group(4) or None
            continue
        if match := _FQID.match(line):
            if error_id is None:
                error_id, command_class = match.group(1), _command_class(match.group(2))
            continue
        if error_id is not None:
            continue
        if _POSITION.match(line):
            in_position = True
            continue
        if in_position and line.lstrip().startswith("+"):
            continue
        in_position = False
        if line.strip():
            message_lines.append(line.rstrip())
    message = "\n".join(message_lines)
    head, sep, rest = message.partition(" : ")
    head = head.rsplit("\\", 1)[-1]  # module-qualified: Hyper-V\Get-VM
    if sep and re.fullmatch(r"[A-Za-z]+-[A-Za-z0-9]+", head):
        command, message = head, rest
    return PSErrorInfo(message.strip() or text, category, error_id, command, text, target, command_class, exception)


def _target(text: str) -> str | None:
    """``minikube:String`` → ``minikube``; ``:`` (no target) → None."""
    name = text.rsplit(":", 1)[0] if ":" in text else text
    return name or None


def _command_class(text: str | None) -> str | None:
    if not text:
        return None
    name = text.removeprefix(HYPERV_COMMANDS)
    if text.startswith(HYPERV_COMMANDS) and name.endswith("Command"):
        name = name.removesuffix("Command")
    return name


def classify(
    info: PSErrorInfo,
    *,
    operation: str,
    host: str | None = None,
    exit_code: int | None = None,
    vm: str | None = None,
) -> HyperVError:
    """The taxonomy class for one PowerShell error: on the identifier and the cmdlet class (see the table above).

    ``vm`` is the virtual machine the operation named; a not-found record whose target is that name is a
    missing VM whatever language its message is in.
    """
    kwargs = {"host": host, "error_id": info.error_id, "category": info.category}
    error_id = info.error_id or ""
    cls = info.command_class or ""
    message = f"{info.command}: {info.message}" if info.command else info.message
    if error_id in BINDER_IDS:
        return InvalidParameter(message, **kwargs)
    if error_id == "InvalidState":
        return InvalidReplicationState(message, operation=operation, **kwargs)
    if error_id == "ObjectNotFound" and cls in REPLICATION_CLASSES:
        return InvalidReplicationState(message, operation=operation, **kwargs)
    if error_id in ("InvalidParameter", "ObjectNotFound"):
        missing = _missing_vm(info, vm)
        if missing is not None:
            return VMNotFound(missing, message, **kwargs)
        return InvalidParameter(message, **kwargs)
    if cls in PARTNER_CLASSES:
        if error_id == "AccessDenied" or (error_id == "OperationFailed" and info.category == "PermissionDenied"):
            return ReplicationAuthenticationFailed(message, **kwargs)
        if error_id == "OperationFailed" and info.category == "ResourceExists":
            return InvalidReplicationState(message, operation=operation, **kwargs)
        if error_id == "OperationFailed" and info.category == "ResourceUnavailable":
            # No room on the replica's volume: permanent, or a heal or a failover step would retry for hours.
            return ReplicaStorageFull(message, **kwargs)
        if error_id == "OperationFailed":
            return ReplicaServerUnreachable(message, **kwargs)
    return ScriptFailed(message, script_exit_code=exit_code, **kwargs)


def _missing_vm(info: PSErrorInfo, vm: str | None) -> str | None:
    """The VM a not-found record is about: its target when that is the VM asked for; without one, Hyper-V's
    English wording (the target alone could be any object's name)."""
    if vm is not None and info.target is not None and info.target.lower() == vm.lower():
        return info.target
    if vm is None and (match := _VM_NOT_FOUND.search(info.message)):
        return match.group(1)
    return None
