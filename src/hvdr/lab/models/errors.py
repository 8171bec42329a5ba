"""Hyper-V's errors as the lab raises them: :class:`~hvdr.lab.seam.PSError` records in the form a real host writes.

A real host answers a refused cmdlet with an ErrorRecord whose exception is
``Microsoft.HyperV.PowerShell.VirtualizationException``, ``FullyQualifiedErrorId =
<Identifier>,Microsoft.HyperV.PowerShell.Commands.<CmdletClass>`` and ``CategoryInfo = <Category>: (<target>)
[<Cmdlet-Name>], VirtualizationException`` (reference §3.5). The identifier is a short word from the exception's
own set; the message (localized on a real host) is the only place the particular reason shows. The cmdlet class
is added by the cmdlet registry (:mod:`hvdr.lab.cmdlets.base`), so the constructors below carry only the
identifier, the category and the target.

=======================  ===================  ==========================================================
identifier               category             raised for
=======================  ===================  ==========================================================
``InvalidParameter``     InvalidArgument      no VM of that name (Hyper-V's wording, as in public
                                              transcripts of ``Get-VM``), a value or combination the
                                              cmdlet refuses after binding
``ObjectNotFound``       ObjectNotFound       no VM with that id, no snapshot / adapter / switch /
                                              disk of that name, replication not enabled, no replica
``InvalidState``         InvalidOperation     the VM's power state, replication state or replication
                                              mode does not allow the call
``OperationFailed``      ConnectionError,     the host could not reach the Replica server, a VM with the
                         ResourceExists,      same id exists there, no storage left there; a guest that did
                         ResourceUnavailable, not shut down in time (``Failed to stop.``)
                         NotSpecified
``AccessDenied``         PermissionDenied     the Replica server refused the primary's authentication
``Unspecified``          NotImplemented,      what the lab does not simulate (extended replication,
                         NotSpecified         changing the replicated disk set); a -ComputerName the
                                              host cannot reach
=======================  ===================  ==========================================================

Binder errors (``NamedParameterNotFound``, ``AmbiguousParameterSet``, ``MissingArgument``, …) are PowerShell's
own, raised by :mod:`hvdr.lab.cmdlets.binding` with ``ParameterBindingException``. :data:`RAISED` lists every
identifier this module can produce; the driver's contract test checks each of them is classified.
"""

from __future__ import annotations

from hvdr.lab.seam import PSError

VIRTUALIZATION = "VirtualizationException"

RAISED = {
    "InvalidParameter": "InvalidArgument",
    "ObjectNotFound": "ObjectNotFound",
    "InvalidState": "InvalidOperation",
    "OperationFailed": "ConnectionError",
    "AccessDenied": "PermissionDenied",
    "Unspecified": "NotImplemented",
}
"""Identifier → the usual category, for every identifier a Hyper-V cmdlet of the lab can raise."""


def _error(message: str, identifier: str, target: str | None, category: str | None = None) -> PSError:
    return PSError(
        message,
        error_id=identifier,
        category=category or RAISED[identifier],
        target=target,
        exception=VIRTUALIZATION,
    )


def vm_not_found(name: str) -> PSError:
    """The real wording and form (``InvalidParameter``, ``InvalidArgument: (name:String) [Get-VM]``)."""
    return _error(f'Hyper-V was unable to find a virtual machine with name "{name}".', "InvalidParameter", name)


def vm_id_not_found(vm_id: str) -> PSError:
    return _error(f'Hyper-V was unable to find a virtual machine with id "{vm_id}".', "ObjectNotFound", vm_id)


def invalid_replication_state(vm: str, state: str, action: str | None = None) -> PSError:
    doing = f"'{action}' failed: " if action else ""
    return _error(
        f"{doing}The operation cannot be performed while the replication of virtual machine '{vm}' is in "
        f"state '{state}'.",
        "InvalidState",
        vm,
    )


def invalid_state(vm: str, state: str, detail: str = "") -> PSError:
    extra = f" {detail}" if detail else ""
    return _error(
        f"The operation cannot be performed while the virtual machine '{vm}' is in its current state ({state}).{extra}",
        "InvalidState",
        vm,
    )


_MODE_TEXT = {
    "Primary": "a primary virtual machine",
    "Replica": "a Replica virtual machine",
    "ExtendedReplica": "an extended Replica virtual machine",
    "TestReplica": "a test Replica virtual machine",
}


def not_applicable(cmdlet: str, vm: str, mode: str) -> PSError:
    """``ReportInvalidModeError``: the cmdlet does not apply to a VM in this replication mode."""
    if mode == "None":
        return _error(
            f"'{cmdlet}' is not applicable because replication is not enabled for virtual machine '{vm}'.",
            "InvalidState",
            vm,
        )
    return _error(
        f"'{cmdlet}' is not applicable to virtual machine '{vm}' because it is {_MODE_TEXT[mode]}.", "InvalidState", vm
    )


def already_enabled(vm: str) -> PSError:
    return _error(f"Replication is already enabled for virtual machine '{vm}'.", "InvalidState", vm)


def test_failover_in_progress(vm: str, test_vm: str) -> PSError:
    return _error(
        f"A test failover is already in progress for virtual machine '{vm}' (test virtual machine '{test_vm}'). "
        "Stop it with Stop-VMFailover first.",
        "InvalidState",
        vm,
    )


def settings_on_replica(vm: str) -> PSError:
    return _error(
        f"Replication settings cannot be modified on Replica virtual machine '{vm}'. Modify them on the primary "
        "virtual machine.",
        "InvalidState",
        vm,
    )


def replication_not_enabled(vm: str) -> PSError:
    return _error(f"Replication is not enabled for virtual machine '{vm}'.", "ObjectNotFound", vm)


def invalid_argument(message: str, target: str | None = None) -> PSError:
    return _error(message, "InvalidParameter", target)


def parameter_not_provided(parameter: str, why: str) -> PSError:
    return _error(f"The parameter '{parameter}' must be provided {why}.", "InvalidParameter", parameter)


def conflicting(first: str, second: str) -> PSError:
    return _error(f"The parameters '{first}' and '{second}' cannot be specified together.", "InvalidParameter", first)


def out_of_range(parameter: str, value: object, allowed: str) -> PSError:
    """PowerShell's ``ValidateRange``/``ValidateSet`` wording and form (a binder error)."""
    return PSError(
        f"Cannot validate argument on parameter '{parameter}'. The argument \"{value}\" is not valid: "
        f"{allowed}. Supply an argument that is valid and then try the command again.",
        error_id="ParameterArgumentValidationError",
        category="InvalidData",
        exception="ParameterBindingValidationException",
    )


def unreachable(server: str, reason: str) -> PSError:
    return _error(
        f"Hyper-V cannot connect to the specified Replica server '{server}'. {reason} Verify that the specified "
        "server is enabled as a Replica server, allows inbound connections through the firewall, and that "
        "the network connection to it is available.",
        "OperationFailed",
        server,
        "ConnectionError",
    )


def authentication_failed(server: str, auth: str, reason: str) -> PSError:
    return _error(
        f"Hyper-V failed to authenticate the Replica server '{server}' using {auth} authentication. {reason}",
        "AccessDenied",
        server,
    )


class InsufficientStorage(PSError):
    """No space left at the Replica server's storage location (a storage-full fault)."""


def insufficient_storage(server: str, vm: str) -> InsufficientStorage:
    return InsufficientStorage(
        f"Hyper-V failed to replicate changes for virtual machine '{vm}': there is insufficient storage on "
        f"the Replica server '{server}' at the replica storage location.",
        error_id="OperationFailed",
        category="ResourceUnavailable",
        target=server,
        exception=VIRTUALIZATION,
    )


def replica_not_found(server: str, vm: str, vm_id: str) -> PSError:
    return _error(
        f"The Replica server '{server}' has no Replica virtual machine for '{vm}' (virtual machine ID {vm_id}).",
        "ObjectNotFound",
        vm,
    )


def replica_already_exists(vm: str, vm_id: str, server: str) -> PSError:
    return _error(
        f"Hyper-V could not enable replication for virtual machine '{vm}': a virtual machine with the same ID "
        f"({vm_id}) already exists on Replica server '{server}'.",
        "OperationFailed",
        vm,
        "ResourceExists",
    )


def operation_failed(message: str, target: str | None = None) -> PSError:
    """A host-side failure of the operation itself (``Failed to stop.`` …): ``OperationFailed``, NotSpecified, as
    in the public Start-VM transcripts."""
    return _error(message, "OperationFailed", target, "NotSpecified")


def operation_unspecified(message: str, target: str | None = None) -> PSError:
    """A failure the module reports without a more specific identifier (``Unspecified``, NotSpecified, as in the
    public Get-VM / Start-VM transcripts), e.g. a ``-ComputerName`` that cannot be reached."""
    return _error(message, "Unspecified", target, "NotSpecified")


def object_not_found(message: str, target: str | None = None) -> PSError:
    return _error(message, "ObjectNotFound", target)


def lab_unsupported(message: str, target: str | None = None) -> PSError:
    """What a real host would do but the lab does not simulate: an honest failure, never a fake success."""
    return _error(message, "Unspecified", target)
