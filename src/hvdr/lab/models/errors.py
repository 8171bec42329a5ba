"""Hyper-V's errors as the lab raises them: :class:`~hvdr.lab.seam.PSError` with Hyper-V's own error ids.

Ids from the reference (§1, §3.5; the driver classifies on them):

==================================================  =================  ==========================================
error_id                                            category           when
==================================================  =================  ==========================================
``OperationFailed_InvalidReplicationState``         InvalidOperation   replication state does not allow the call
``OperationFailed_InvalidState``                    InvalidOperation   VM power state does not allow the call
``VMReplication_ActionNotApplicableOnPrimary``      InvalidOperation   wrong mode (also ``OnReplica``,
                                                                       ``OnTestReplica``, ``_None``)
``VMReplication_AlreadyEnabled``                    InvalidOperation   Enable-VMReplication on a Primary
``InvalidParameter_InvalidUri``                     InvalidArgument    replica server given as an IP address
``InvalidParameter_ConflictingParameters``          InvalidArgument    parameters that cannot go together
``InvalidArgument_ParameterNotProvided``            InvalidArgument    a parameter this case needs is missing
``VMReplication_AppConsistentWithoutRecoveryHistory`` InvalidArgument  VSS frequency without recovery history
``VMFailover_OnlyValidParameterOnPrimary``          InvalidArgument    -AsTest / a snapshot on the primary
``VMFailover_InvalidSnapshot``                      InvalidArgument    snapshot of another VM or not a replica one
``InvalidOperation_NoSettingsChanged``              InvalidOperation   Set-VMReplication without any setting
``VMReplication_CannotModifySettingsOnReplica``     InvalidOperation   settings changed on a Replica
``VMReplication_Reverse_CertificateThumbprintNotProvided`` InvalidArgument  -Reverse, certificate, no thumbprint
``ParameterArgumentValidationError``                InvalidData        a value outside its valid range or set
``InvalidParameter``                                InvalidArgument    no VM of that name (Hyper-V's exact wording)
==================================================  =================  ==========================================

Ids the reference does not give, chosen to match Hyper-V's wording (the driver may match on the id):

==================================================  ==================  =========================================
``VMReplication_ReplicaServerUnreachable``          ResourceUnavailable "Hyper-V cannot connect to the specified
                                                                        Replica server '<s>'…" (host down, site
                                                                        partition, unknown name, wrong port, the
                                                                        server not enabled as a Replica server)
``VMReplication_AuthenticationFailed``              PermissionDenied    "Hyper-V failed to authenticate the
                                                                        Replica server '<s>' using <auth>
                                                                        authentication…" (auth type not allowed,
                                                                        primary not authorized)
``VMReplication_InsufficientStorage``               ResourceUnavailable "…insufficient storage on the Replica
                                                                        server…" (storage-full fault)
``VMReplication_ReplicaNotFound``                   ObjectNotFound      the Replica server has no replica of the VM
                                                                        (removed there, or moved)
``VMReplication_ReplicaAlreadyExists``              ResourceExists      a VM with the same id already exists on the
                                                                        replica server outside replication
``VMReplication_ReplicationNotEnabled``             InvalidOperation    Get-/Measure-VMReplication of a VM whose
                                                                        replication is not enabled (the real
                                                                        "Replication is not enabled for virtual
                                                                        machine" message)
``VMReplication_TestFailoverInProgress``            InvalidOperation    a second test failover of one VM
``VMReplication_InitialReplicationMediaNotFound``   ObjectNotFound      Import-VMInitialReplication, no media
``VMReplication_ExtendedReplicationNotSupported``   NotImplemented      extended replication (a lab limitation)
``VMReplication_ReplicatedDisksNotSupported``       NotImplemented      Set-VMReplication -ReplicatedDisk(Path)s
                                                                        (a lab limitation)
``CannotConnectToVMMServer``                        ResourceUnavailable Get-SCVMMServer naming another server
                                                                        ("You cannot contact the VMM management
                                                                        server …. (Error ID: 1604)")
``AmbiguousParameter`` / ``NamedParameterNotFound`` InvalidArgument     PowerShell's binder errors (see
                                                                        ``hvdr.lab.cmdlets.binding`` for all of
                                                                        them and their wording)
``MissingMandatoryParameter``                       InvalidArgument     PowerShell's binder error (no prompt)
``ParameterArgumentTransformationError``            InvalidData         a value of the wrong type
``ObjectNotFound``                                  ObjectNotFound      no snapshot / adapter / switch of that name
==================================================  ==================  =========================================
"""

from __future__ import annotations

from hvdr.lab.seam import PSError


def vm_not_found(name: str) -> PSError:
    """The real wording, which the driver recognises."""
    return PSError(
        f'Hyper-V was unable to find a virtual machine with name "{name}".',
        error_id="InvalidParameter",
        category="InvalidArgument",
        target=name,
    )


def invalid_replication_state(vm: str, state: str, action: str | None = None) -> PSError:
    doing = f"'{action}' failed: " if action else ""
    return PSError(
        f"{doing}The operation cannot be performed while the replication of virtual machine '{vm}' is in "
        f"state '{state}'.",
        error_id="OperationFailed_InvalidReplicationState",
        category="InvalidOperation",
        target=vm,
    )


def invalid_state(vm: str, state: str, detail: str = "") -> PSError:
    extra = f" {detail}" if detail else ""
    return PSError(
        f"The operation cannot be performed while the virtual machine '{vm}' is in its current state ({state}).{extra}",
        error_id="OperationFailed_InvalidState",
        category="InvalidOperation",
        target=vm,
    )


_MODE_TEXT = {
    "Primary": ("OnPrimary", "a primary virtual machine"),
    "Replica": ("OnReplica", "a Replica virtual machine"),
    "ExtendedReplica": ("OnReplica", "an extended Replica virtual machine"),
    "TestReplica": ("OnTestReplica", "a test Replica virtual machine"),
}


def not_applicable(cmdlet: str, vm: str, mode: str) -> PSError:
    """``ReportInvalidModeError``: the cmdlet does not apply to a VM in this replication mode."""
    if mode == "None":
        return PSError(
            f"'{cmdlet}' is not applicable because replication is not enabled for virtual machine '{vm}'.",
            error_id="VMReplication_ActionNotApplicable_None",
            category="InvalidOperation",
            target=vm,
        )
    suffix, text = _MODE_TEXT[mode]
    return PSError(
        f"'{cmdlet}' is not applicable to virtual machine '{vm}' because it is {text}.",
        error_id=f"VMReplication_ActionNotApplicable{suffix}",
        category="InvalidOperation",
        target=vm,
    )


def replication_not_enabled(vm: str) -> PSError:
    return PSError(
        f"Replication is not enabled for virtual machine '{vm}'.",
        error_id="VMReplication_ReplicationNotEnabled",
        category="InvalidOperation",
        target=vm,
    )


def invalid_argument(message: str, error_id: str, target: str | None = None) -> PSError:
    return PSError(message, error_id=error_id, category="InvalidArgument", target=target)


def parameter_not_provided(parameter: str, why: str) -> PSError:
    return PSError(
        f"The parameter '{parameter}' must be provided {why}.",
        error_id="InvalidArgument_ParameterNotProvided",
        category="InvalidArgument",
        target=parameter,
    )


def conflicting(first: str, second: str) -> PSError:
    return PSError(
        f"The parameters '{first}' and '{second}' cannot be specified together.",
        error_id="InvalidParameter_ConflictingParameters",
        category="InvalidArgument",
        target=first,
    )


def out_of_range(parameter: str, value: object, allowed: str) -> PSError:
    """PowerShell's ``ValidateRange``/``ValidateSet`` wording."""
    return PSError(
        f"Cannot validate argument on parameter '{parameter}'. The argument \"{value}\" is not valid: "
        f"{allowed}. Supply an argument that is valid and then try the command again.",
        error_id="ParameterArgumentValidationError",
        category="InvalidData",
        target=parameter,
    )


def unreachable(server: str, reason: str) -> PSError:
    return PSError(
        f"Hyper-V cannot connect to the specified Replica server '{server}'. {reason} Verify that the specified "
        "server is enabled as a Replica server, allows inbound connections through the firewall, and that "
        "the network connection to it is available.",
        error_id="VMReplication_ReplicaServerUnreachable",
        category="ResourceUnavailable",
        target=server,
    )


def authentication_failed(server: str, auth: str, reason: str) -> PSError:
    return PSError(
        f"Hyper-V failed to authenticate the Replica server '{server}' using {auth} authentication. {reason}",
        error_id="VMReplication_AuthenticationFailed",
        category="PermissionDenied",
        target=server,
    )


def insufficient_storage(server: str, vm: str) -> PSError:
    return PSError(
        f"Hyper-V failed to replicate changes for virtual machine '{vm}': there is insufficient storage on "
        f"the Replica server '{server}' at the replica storage location.",
        error_id="VMReplication_InsufficientStorage",
        category="ResourceUnavailable",
        target=server,
    )


def object_not_found(message: str, target: str | None = None) -> PSError:
    return PSError(message, error_id="ObjectNotFound", category="ObjectNotFound", target=target)


def operation_error(
    message: str, error_id: str, category: str = "InvalidOperation", target: str | None = None
) -> PSError:
    return PSError(message, error_id=error_id, category=category, target=target)
