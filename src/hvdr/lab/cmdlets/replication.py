"""Replica-server and replication cmdlets (reference §1.1–§1.10)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from hvdr.lab.cmdlets.base import (
    AS_JOB,
    PASSTHRU,
    SHOULD_PROCESS,
    VM_REPLICATION,
    Context,
    cmdlet,
    remoting,
    resolve_vms,
    vm_sets,
)
from hvdr.lab.cmdlets.binding import Param
from hvdr.lab.models import errors, failover, protection
from hvdr.lab.models.clock import to_timestamp
from hvdr.lab.models.enums import (
    RecoveryAuthenticationType,
    ReplicationAuthenticationType,
    VMReplicationHealthState,
    VMReplicationMode,
    VMReplicationRelationshipType,
    VMReplicationState,
)
from hvdr.lab.models.replication import Relationship, ReplicationSettings
from hvdr.lab.models.vms import VirtualMachine


def relationship(*sets: str) -> Param:
    return Param(
        "ReplicationRelationshipType", "enum", ("Relationship",), enum=VMReplicationRelationshipType, sets=sets
    )


def settings(*sets: str) -> tuple[Param, ...]:
    """The replication settings Enable-VMReplication and Set-VMReplication share."""
    return (
        Param("AutoResynchronizeEnabled", "bool", ("AutoResync",), sets=sets),
        Param("AutoResynchronizeIntervalEnd", "timespan", ("AutoResyncEnd",), sets=sets),
        Param("AutoResynchronizeIntervalStart", "timespan", ("AutoResyncStart",), sets=sets),
        Param("AuthenticationType", "enum", ("AuthType",), position=3, enum=ReplicationAuthenticationType, sets=sets),
        Param("BypassProxyServer", "bool", sets=sets),
        Param("CertificateThumbprint", "string", ("Thumbprint", "Cert"), by_property_name=True, sets=sets),
        Param("CompressionEnabled", "bool", sets=sets),
        Param("EnableWriteOrderPreservationAcrossDisks", "bool", sets=sets),
        Param("RecoveryHistory", "int", ("RecHist",), sets=sets),
        Param("ReplicaServerName", "string", ("ReplicaServer",), position=1, sets=sets),
        Param("ReplicaServerPort", "int", ("ReplicaPort",), position=2, sets=sets),
        Param("ReplicateHostKvpItems", "bool", sets=sets),
        Param("ReplicationFrequencySec", "int", ("RepFreq",), sets=sets),
        Param("VSSSnapshotFrequencyHour", "int", ("VSSFreq",), sets=sets),
    )


def _mandatory(params: tuple[Param, ...], *names: str) -> tuple[Param, ...]:
    return tuple(dataclasses.replace(p, mandatory=True) if p.name in names else p for p in params)


FIELDS = {
    "ReplicaServerName": "replica_server",
    "ReplicaServerPort": "replica_port",
    "AuthenticationType": "auth",
    "CertificateThumbprint": "certificate_thumbprint",
    "CompressionEnabled": "compression",
    "ReplicateHostKvpItems": "replicate_host_kvp_items",
    "BypassProxyServer": "bypass_proxy_server",
    "VSSSnapshotFrequencyHour": "vss_frequency_hours",
    "RecoveryHistory": "recovery_history",
    "ReplicationFrequencySec": "frequency_sec",
    "ExcludedVhdPath": "excluded_disk_paths",
    "AutoResynchronizeEnabled": "auto_resynchronize",
    "AutoResynchronizeIntervalStart": "auto_resynchronize_start",
    "AutoResynchronizeIntervalEnd": "auto_resynchronize_end",
    "AllowedPrimaryServer": "allowed_primary_server",
}


def _changes(bound: dict[str, Any]) -> dict[str, Any]:
    changes = {field: bound[name] for name, field in FIELDS.items() if name in bound}
    drives = bound.get("ExcludedVhd")
    if drives:
        changes["excluded_disk_paths"] = [
            *changes.get("excluded_disk_paths", []),
            *(str(d.ps_get("Path")) for d in drives),
        ]
    return changes


def _passthru(ctx: Context, bound: dict[str, Any], rels: list[Relationship]) -> list[Any]:
    return [rel.to_object(ctx.now) for rel in rels] if bound.get("Passthru") else []


def _timestamp(bound: dict[str, Any], name: str) -> float | None:
    value = bound.get(name)
    return to_timestamp(value) if value is not None else None


def _simple_only(bound: dict[str, Any], cmdlet_name: str) -> None:
    if bound.get("ReplicationRelationshipType") is VMReplicationRelationshipType.Extended:
        raise errors.lab_unsupported(
            f"'{cmdlet_name}' for an extended replication relationship is not supported by the hvdr lab."
        )


# -- the Replica server ---------------------------------------------------------------------------------------


@cmdlet(
    "Get-VMReplicationServer",
    Param("CimSession", "objects", position=0, mandatory=True, pipeline_types=("CimSession",), sets=("CimSession",)),
    Param("ComputerName", "strings", position=0, pipeline_types=("String",), sets=("ComputerName",)),
    Param("Credential", "objects", position=1, sets=("ComputerName",)),
    default_set="ComputerName",
)
def get_replication_server(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    return [ctx.host.replication_server_object()]


MONITORING_INTERVALS = [timedelta(hours=h) for h in (1, 2, 3, 4, 6, 8, 12, 24)] + [
    timedelta(days=d) for d in range(2, 8)
]


@cmdlet(
    "Set-VMReplicationServer",
    Param("AllowedAuthenticationType", "enum", ("AuthType",), position=1, enum=RecoveryAuthenticationType),
    Param("CertificateAuthenticationPort", "int", ("CertAuthPort",), sets=("AuthenticationPort",)),
    Param("CertificateAuthenticationPortMapping", "hashtable", sets=("AuthenticationPortMapping",)),
    Param("CertificateThumbprint", "string", ("Thumbprint",), by_property_name=True),
    *remoting(),
    Param("DefaultStorageLocation", "string", ("StorageLoc",)),
    Param("Force", "switch"),
    Param("KerberosAuthenticationPort", "int", ("KerbAuthPort",), sets=("AuthenticationPort",)),
    Param("KerberosAuthenticationPortMapping", "hashtable", sets=("AuthenticationPortMapping",)),
    Param("MonitoringInterval", "timespan"),
    Param("MonitoringStartTime", "timespan"),
    PASSTHRU,
    Param("ReplicationAllowedFromAnyServer", "bool", ("AllowAnyServer",), position=2),
    Param("ReplicationEnabled", "bool", ("RepEnabled",), position=0),
    *SHOULD_PROCESS,
    default_set="AuthenticationPort",
)
def set_replication_server(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    rs = ctx.host.replica_server
    enabled = bound.get("ReplicationEnabled", rs.enabled)
    auth = bound.get("AllowedAuthenticationType", rs.auth)
    any_server = bound.get("ReplicationAllowedFromAnyServer", rs.allowed_from_any_server)
    thumbprint = bound.get("CertificateThumbprint", rs.certificate_thumbprint)
    storage = bound.get("DefaultStorageLocation", rs.default_storage_location)
    if any_server and not storage:
        raise errors.parameter_not_provided("DefaultStorageLocation", "when ReplicationAllowedFromAnyServer is True")
    if auth is not RecoveryAuthenticationType.Kerberos and not thumbprint:
        raise errors.parameter_not_provided("CertificateThumbprint", f"for authentication type {auth.name}")
    for name in ("KerberosAuthenticationPort", "CertificateAuthenticationPort"):
        if name in bound and not 1 <= bound[name] <= 65535:
            raise errors.out_of_range(name, bound[name], "the argument must be between 1 and 65535")
    if "MonitoringInterval" in bound and bound["MonitoringInterval"] not in MONITORING_INTERVALS:
        raise errors.out_of_range(
            "MonitoringInterval",
            bound["MonitoringInterval"],
            "valid intervals are 1, 2, 3, 4, 6, 8, 12 or 24 hours, or 2 to 7 days",
        )
    rs.enabled = enabled
    rs.auth = auth
    rs.allowed_from_any_server = any_server
    rs.certificate_thumbprint = thumbprint
    rs.default_storage_location = storage
    rs.kerberos_port = bound.get("KerberosAuthenticationPort", rs.kerberos_port)
    rs.certificate_port = bound.get("CertificateAuthenticationPort", rs.certificate_port)
    rs.monitoring_interval = bound.get("MonitoringInterval", rs.monitoring_interval)
    rs.monitoring_start_time = bound.get("MonitoringStartTime", rs.monitoring_start_time)
    return [ctx.host.replication_server_object()] if bound.get("Passthru") else []


@cmdlet(
    "Test-VMReplicationConnection",
    Param("AuthenticationType", "enum", ("AuthType",), position=2, mandatory=True, enum=ReplicationAuthenticationType),
    Param("BypassProxyServer", "bool"),
    Param("CertificateThumbprint", "string", ("Thumbprint",), position=3, by_property_name=True),
    *remoting(),
    Param("ReplicaServerName", "string", ("ReplicaServer",), position=0, mandatory=True),
    Param("ReplicaServerPort", "int", ("ReplicaPort",), position=1, mandatory=True),
)
def test_replication_connection(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    settings = ReplicationSettings(
        replica_server=bound["ReplicaServerName"],
        replica_port=bound["ReplicaServerPort"],
        auth=bound["AuthenticationType"],
        certificate_thumbprint=bound.get("CertificateThumbprint"),
    )
    protection.check_server_name(settings.replica_server)
    if settings.auth is ReplicationAuthenticationType.Certificate and not settings.certificate_thumbprint:
        raise errors.parameter_not_provided("CertificateThumbprint", "when the authentication type is Certificate")
    target = ctx.backend.connect(ctx.host, settings.replica_server)
    ctx.backend.admit(target, ctx.host.fqdn, settings, "")
    return [
        f"Connection to the Replica server '{settings.replica_server}' on port {settings.replica_port} using "
        f"{settings.auth.name} authentication was successful."
    ]


# -- enable / settings ------------------------------------------------------------------------------------------


@cmdlet(
    "Enable-VMReplication",
    Param(
        "AllowedPrimaryServer",
        "string",
        ("AllowedPS",),
        by_property_name=True,
        sets=("VMName_AsReplica", "VMObject_AsReplica"),
    ),
    AS_JOB,
    Param("AsReplica", "switch", sets=("VMName_AsReplica", "VMObject_AsReplica")),
    *_mandatory(settings("VMName", "VMObject"), "ReplicaServerName", "ReplicaServerPort", "AuthenticationType"),
    Param("CimSession", "objects", sets=("VMName", "VMName_AsReplica")),
    Param("ComputerName", "strings", sets=("VMName", "VMName_AsReplica")),
    Param("Credential", "objects"),
    Param("ExcludedVhd", "objects", pipeline_types=("HardDiskDrive",), by_value=False, sets=("VMName", "VMObject")),
    Param("ExcludedVhdPath", "strings", sets=("VMName", "VMObject")),
    PASSTHRU,
    Param(
        "VM",
        "objects",
        position=0,
        mandatory=True,
        pipeline_types=("VirtualMachine",),
        sets=("VMObject", "VMObject_AsReplica"),
    ),
    Param(
        "VMName",
        "strings",
        ("Name",),
        position=0,
        mandatory=True,
        pipeline_types=("String",),
        sets=("VMName", "VMName_AsReplica"),
    ),
    *SHOULD_PROCESS,
    default_set="VMName",
)
def enable_replication(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    vms = resolve_vms(ctx, bound)
    if "ReplicaServerName" not in bound:  # the *_AsReplica sets (-AsReplica is optional there)
        return _passthru(
            ctx, bound, [protection.enable_as_replica(ctx.backend, vm, bound.get("AllowedPrimaryServer")) for vm in vms]
        )
    changes = _changes(bound)
    given = set(changes)
    rels = []
    for vm in vms:
        settings = ReplicationSettings(**changes)
        rels.append(protection.enable(ctx.backend, vm, settings, given))
    return _passthru(ctx, bound, rels)


@cmdlet(
    "Set-VMReplication",
    Param("AllowedPrimaryServer", "string", ("AllowedPS",), by_property_name=True),
    AS_JOB,
    Param("AsReplica", "switch"),
    *settings(),
    Param("CimSession", "objects", sets=("VMName",)),
    Param("ComputerName", "strings", sets=("VMName",)),
    Param("Credential", "objects"),
    Param("DisableVSSSnapshotReplication", "switch", ("DisableVSS",)),
    Param("InitialReplicationStartTime", "datetime", ("IRTime",)),
    PASSTHRU,
    Param("ReplicatedDiskPaths", "strings"),
    Param("ReplicatedDisks", "objects", pipeline_types=("HardDiskDrive",), by_value=False),
    Param("Reverse", "switch"),
    Param("UseBackup", "switch"),
    *vm_sets("VMName", ("Name",)),
    VM_REPLICATION,
    *SHOULD_PROCESS,
    default_set="VMName",
)
def set_replication(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    vms = resolve_vms(ctx, bound)
    changes = _changes(bound)
    if bound.get("DisableVSSSnapshotReplication"):
        if "vss_frequency_hours" in changes:
            raise errors.conflicting("DisableVSSSnapshotReplication", "VSSSnapshotFrequencyHour")
        changes["vss_frequency_hours"] = 0
    if bound.get("UseBackup") and "InitialReplicationStartTime" not in bound:
        raise errors.parameter_not_provided("InitialReplicationStartTime", "with UseBackup")
    rels: list[Relationship] = []
    for vm in vms:
        if bound.get("AsReplica"):
            if bound.get("Reverse"):
                raise errors.conflicting("AsReplica", "Reverse")
            rels.append(protection.as_replica(ctx.backend, vm, bound.get("AllowedPrimaryServer")))
        elif bound.get("Reverse"):
            if bound.get("ReplicatedDisks") or bound.get("ReplicatedDiskPaths"):
                raise errors.conflicting("Reverse", "ReplicatedDiskPaths")
            target = changes.pop("replica_server", None)
            rels.append(failover.reverse(ctx.backend, vm, target, changes))
        elif "InitialReplicationStartTime" in bound and not changes:
            rels.append(_reschedule_initial(ctx, vm, bound))
        else:
            if bound.get("ReplicatedDisks") or bound.get("ReplicatedDiskPaths"):
                raise errors.lab_unsupported(
                    "Changing the set of replicated disks is not supported by the hvdr lab.", vm.name
                )
            rels.append(protection.set_settings(ctx.backend, vm, changes))
    return _passthru(ctx, bound, rels)


def _reschedule_initial(ctx: Context, vm: VirtualMachine, bound: dict[str, Any]) -> Relationship:
    from hvdr.lab.models import engine

    rel = vm.replication
    if rel is None:
        raise errors.not_applicable("Set-VMReplication", vm.name, "None")
    task = rel.task
    if task is None or task.kind != "initial" or task.finishes_at is not None or task.starts_at <= ctx.now:
        raise errors.invalid_replication_state(
            vm.name, rel.state.name, "Set-VMReplication -InitialReplicationStartTime"
        )
    at = _timestamp(bound, "InitialReplicationStartTime")
    assert at is not None
    if not ctx.now < at <= ctx.now + protection.WEEK:
        raise errors.out_of_range(
            "InitialReplicationStartTime",
            bound["InitialReplicationStartTime"],
            "the start time must be in the future and within 7 days",
        )
    engine.start_initial(ctx.backend, rel, ctx.now, at)
    return rel


# -- initial replication ------------------------------------------------------------------------------------


@cmdlet(
    "Start-VMInitialReplication",
    AS_JOB,
    Param("CimSession", "objects"),
    Param("ComputerName", "strings", sets=("VMName",)),
    Param("Credential", "objects"),
    Param("DestinationPath", "string", ("IRLoc",)),
    Param("InitialReplicationStartTime", "datetime", ("IRTime",)),
    PASSTHRU,
    Param("UseBackup", "switch"),
    *vm_sets(),
    VM_REPLICATION,
    *SHOULD_PROCESS,
    default_set="VMName",
)
def start_initial_replication(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    if "DestinationPath" in bound and "InitialReplicationStartTime" in bound:
        raise errors.conflicting("DestinationPath", "InitialReplicationStartTime")
    if "DestinationPath" in bound and bound.get("UseBackup"):
        raise errors.conflicting("DestinationPath", "UseBackup")
    if "InitialReplicationStartTime" in bound and bound.get("AsJob"):
        raise errors.conflicting("InitialReplicationStartTime", "AsJob")
    vms = resolve_vms(ctx, bound)
    for vm in vms:
        protection.start_initial_replication(
            ctx.backend, vm, bound.get("DestinationPath"), _timestamp(bound, "InitialReplicationStartTime")
        )
    return _passthru(ctx, bound, [vm.replication for vm in vms if vm.replication])


@cmdlet(
    "Import-VMInitialReplication",
    AS_JOB,
    *remoting("VMName"),
    PASSTHRU,
    Param("Path", "string", ("IRLoc",), position=1, mandatory=True),
    *vm_sets(),
    VM_REPLICATION,
    *SHOULD_PROCESS,
    default_set="VMName",
)
def import_initial_replication(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    vms = resolve_vms(ctx, bound)
    for vm in vms:
        protection.import_initial_replication(ctx.backend, vm, bound["Path"])
    return _passthru(ctx, bound, [vm.replication for vm in vms if vm.replication])


@cmdlet(
    "Stop-VMInitialReplication",
    Param("CimSession", "objects"),
    Param("ComputerName", "strings", sets=("VMName",)),
    Param("Credential", "objects"),
    PASSTHRU,
    *vm_sets(),
    VM_REPLICATION,
    *SHOULD_PROCESS,
    default_set="VMName",
)
def stop_initial_replication(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    vms = resolve_vms(ctx, bound)
    for vm in vms:
        protection.stop_initial_replication(ctx.backend, vm)
    return _passthru(ctx, bound, [vm.replication for vm in vms if vm.replication])


# -- reading replication --------------------------------------------------------------------------------------

FILTERS = (
    *remoting("VMName"),
    Param("PrimaryServerName", "string", ("PrimaryServer",), sets=("VMName",)),
    Param("ReplicaServerName", "string", ("ReplicaServer",), sets=("VMName",)),
    Param("ReplicationHealth", "enum", ("Health",), enum=VMReplicationHealthState, sets=("VMName",)),
    Param("ReplicationMode", "enum", ("Mode",), enum=VMReplicationMode, sets=("VMName",)),
    relationship(),
    Param("ReplicationState", "enum", ("State",), enum=VMReplicationState, sets=("VMName",)),
    Param("TrustGroup", "string", sets=("VMName",)),
    Param("VM", "objects", position=0, mandatory=True, pipeline_types=("VirtualMachine",), sets=("VMObject",)),
    Param("VMName", "strings", ("Name",), position=0, pipeline_types=("String",), sets=("VMName",)),
)
"""Get-VMReplication's and Measure-VMReplication's parameters (the same on both pages)."""


def _replicated(ctx: Context, bound: dict[str, Any]) -> list[Relationship]:
    named = "VMName" in bound or "VM" in bound
    vms = resolve_vms(ctx, bound, required=False, include_tests=False)
    rels = []
    for vm in sorted(vms, key=lambda v: v.name.lower()):
        if vm.replication is None:
            if named and not any(ch in n for n in bound.get("VMName") or [] for ch in "*?["):
                raise errors.replication_not_enabled(vm.name)
            continue
        rels.append(vm.replication)
    for rel in rels:
        ctx.backend.catch_up(rel.vm, ctx.now)
    if bound.get("ReplicationRelationshipType") is VMReplicationRelationshipType.Extended:
        return []

    def keep(rel: Relationship) -> bool:
        return (
            (
                "ReplicaServerName" not in bound
                or rel.settings.replica_server.lower() == bound["ReplicaServerName"].lower()
            )
            and ("PrimaryServerName" not in bound or rel.primary_server.lower() == bound["PrimaryServerName"].lower())
            and ("ReplicationState" not in bound or rel.state is bound["ReplicationState"])
            and ("ReplicationHealth" not in bound or rel.health(ctx.now) is bound["ReplicationHealth"])
            and ("ReplicationMode" not in bound or rel.mode is bound["ReplicationMode"])
        )

    return [rel for rel in rels if keep(rel)]


@cmdlet("Get-VMReplication", *FILTERS, default_set="VMName")
def get_replication(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    return [rel.to_object(ctx.now) for rel in _replicated(ctx, bound)]


@cmdlet("Measure-VMReplication", *FILTERS, default_set="VMName")
def measure_replication(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    rels = _replicated(ctx, bound)
    for rel in rels:
        rel.roll_window(ctx.now, ctx.host.replica_server.monitoring_interval.total_seconds())
    return [rel.health_object(ctx.now) for rel in rels]


@cmdlet(
    "Reset-VMReplicationStatistics",
    *remoting("VMName"),
    PASSTHRU,
    relationship("VMName"),
    *vm_sets(),
    VM_REPLICATION,
    *SHOULD_PROCESS,
    default_set="VMName",
)
def reset_statistics(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    _simple_only(bound, "Reset-VMReplicationStatistics")
    for vm in resolve_vms(ctx, bound):
        if vm.replication is None:
            raise errors.replication_not_enabled(vm.name)
        vm.replication.stats.reset(ctx.now)
    return []


# -- pause, resume, cancel, remove ---------------------------------------------------------------------------


@cmdlet(
    "Suspend-VMReplication",
    *remoting("VMName"),
    PASSTHRU,
    relationship("VMName"),
    *vm_sets(),
    VM_REPLICATION,
    *SHOULD_PROCESS,
    default_set="VMName",
)
def suspend_replication(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    _simple_only(bound, "Suspend-VMReplication")
    vms = resolve_vms(ctx, bound)
    for vm in vms:
        protection.suspend(ctx.backend, vm)
    return _passthru(ctx, bound, [vm.replication for vm in vms if vm.replication])


@cmdlet(
    "Resume-VMReplication",
    AS_JOB,
    Param("CimSession", "objects"),
    Param("ComputerName", "strings", sets=("VMName",)),
    Param("Continue", "switch"),
    Param("Credential", "objects"),
    PASSTHRU,
    relationship("VMName", "VMObject"),
    Param("Resynchronize", "switch", ("Resync",)),
    Param("ResynchronizeStartTime", "datetime", ("ResyncStart",)),
    *vm_sets(),
    VM_REPLICATION,
    *SHOULD_PROCESS,
    default_set="VMName",
)
def resume_replication(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    _simple_only(bound, "Resume-VMReplication")
    if bound.get("Continue"):
        raise errors.lab_unsupported(
            "Resume-VMReplication -Continue (extended replication) is not supported by the hvdr lab."
        )
    vms = resolve_vms(ctx, bound)
    for vm in vms:
        protection.resume(
            ctx.backend, vm, bool(bound.get("Resynchronize")), _timestamp(bound, "ResynchronizeStartTime")
        )
    return _passthru(ctx, bound, [vm.replication for vm in vms if vm.replication])


@cmdlet(
    "Stop-VMReplication",
    Param("CimSession", "objects"),
    Param("ComputerName", "strings", sets=("VMName",)),
    Param("Credential", "objects"),
    PASSTHRU,
    relationship("VMName", "VMObject"),
    *vm_sets(),
    VM_REPLICATION,
    *SHOULD_PROCESS,
    default_set="VMName",
)
def stop_replication(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    _simple_only(bound, "Stop-VMReplication")
    vms = resolve_vms(ctx, bound)
    for vm in vms:
        protection.stop_replication(ctx.backend, vm)
    return _passthru(ctx, bound, [vm.replication for vm in vms if vm.replication])


@cmdlet(
    "Remove-VMReplication",
    *remoting("VMName"),
    PASSTHRU,
    relationship("VMName"),
    *vm_sets(),
    VM_REPLICATION,
    *SHOULD_PROCESS,
    default_set="VMName",
)
def remove_replication(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    _simple_only(bound, "Remove-VMReplication")
    vms = resolve_vms(ctx, bound)
    for vm in vms:
        protection.remove(ctx.backend, vm)
    return []
