"""Enabling, configuring, pausing and removing replication (reference §1.3–§1.10).

Choices where the reference is silent: enabling (and ``-Reverse`` to a host without the VM) creates the
replica VM on the Replica server at once, Off, adapters unconnected, disks empty; a VM with the same id
already on the Replica server outside replication refuses the enable (``OperationFailed``, ResourceExists).
``Resume-VMReplication`` without ``-Resynchronize`` on a VM that needs resynchronization fails
(``InvalidState``) rather than pretending to replicate. ``Start-VMInitialReplication``
over the network now checks the Replica server is reachable and fails at once if not. ``-Resynchronize`` on a
Replica is refused (resynchronization is driven by the primary). Extended replication is not modelled.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import TYPE_CHECKING, Any

from hvdr.lab.models import engine, errors
from hvdr.lab.models.backend import ExportMedia
from hvdr.lab.models.enums import ReplicationAuthenticationType, VMReplicationMode, VMReplicationState, VMState
from hvdr.lab.models.replication import Relationship, ReplicationSettings
from hvdr.lab.models.vms import VirtualMachine

if TYPE_CHECKING:
    from hvdr.lab.models.backend import LabBackend
    from hvdr.lab.models.hosts import LabHost

S = VMReplicationState
M = VMReplicationMode
FREQUENCIES = (30, 300, 900)
WEEK = 7 * 86400.0


# -- validation shared by Enable- and Set-VMReplication ------------------------------------------------------


def check_server_name(name: str) -> None:
    """``Uri.CheckHostName(name) == Dns``: an IP address is refused."""
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return
    raise errors.invalid_argument(
        f"The Replica server name '{name}' is not valid: specify the fully qualified domain name of the Replica "
        "server, not an IP address.",
        name,
    )


def check_settings(settings: ReplicationSettings, given: set[str]) -> None:
    if settings.frequency_sec not in FREQUENCIES:
        raise errors.out_of_range("ReplicationFrequencySec", settings.frequency_sec, "valid values are 30, 300, 900")
    if not 0 <= settings.recovery_history <= 24:
        raise errors.out_of_range("RecoveryHistory", settings.recovery_history, "the argument must be between 0 and 24")
    if "vss_frequency_hours" in given and not 1 <= settings.vss_frequency_hours <= 12:
        raise errors.out_of_range(
            "VSSSnapshotFrequencyHour", settings.vss_frequency_hours, "the argument must be between 1 and 12"
        )
    if "vss_frequency_hours" in given and settings.recovery_history == 0:
        raise errors.invalid_argument(
            "Application-consistent recovery points (VSSSnapshotFrequencyHour) require additional recovery points: "
            "specify a RecoveryHistory greater than zero.",
            "VSSSnapshotFrequencyHour",
        )
    if not 1 <= settings.replica_port <= 65535:
        raise errors.out_of_range("ReplicaServerPort", settings.replica_port, "the argument must be 1-65535")
    check_server_name(settings.replica_server)
    cert = settings.auth is ReplicationAuthenticationType.Certificate
    if cert and not settings.certificate_thumbprint:
        raise errors.parameter_not_provided("CertificateThumbprint", "when the authentication type is Certificate")
    if not cert and "certificate_thumbprint" in given and settings.certificate_thumbprint:
        raise errors.conflicting("CertificateThumbprint", "AuthenticationType Kerberos")


def default_vss(settings: ReplicationSettings, given: set[str]) -> None:
    """Reference §1.10: history > 0 without a VSS frequency → every 4 hours; history 0 forces VSS off."""
    if settings.recovery_history == 0:
        settings.vss_frequency_hours = 0
    elif "vss_frequency_hours" not in given and settings.vss_frequency_hours == 0:
        settings.vss_frequency_hours = 4


def _mode_guard(rel: Relationship | None, vm: VirtualMachine, cmdlet: str, *allowed: VMReplicationMode) -> Relationship:
    if vm.test_of is not None:
        raise errors.not_applicable(cmdlet, vm.name, "TestReplica")
    if rel is None:
        raise errors.not_applicable(cmdlet, vm.name, "None")
    rel.require_mode(cmdlet, *allowed)
    return rel


# -- enable --------------------------------------------------------------------------------------------------


def enable(b: LabBackend, vm: VirtualMachine, settings: ReplicationSettings, given: set[str]) -> Relationship:
    """Enable-VMReplication on the primary: validate, reach and admit, create the replica placeholder."""
    now = b.now()
    if vm.test_of is not None:
        raise errors.not_applicable("Enable-VMReplication", vm.name, "TestReplica")
    rel = vm.replication
    if rel is not None:
        if rel.mode is M.Primary:
            raise errors.already_enabled(vm.name)
        raise errors.lab_unsupported(
            f"Extended replication of Replica virtual machine '{vm.name}' is not supported by the hvdr lab.", vm.name
        )
    check_settings(settings, given)
    default_vss(settings, given)
    unknown = [p for p in settings.excluded_disk_paths if p.lower() not in {d.path.lower() for d in vm.disks}]
    if unknown:
        raise errors.object_not_found(
            f"The virtual hard disk '{unknown[0]}' is not attached to virtual machine '{vm.name}'.", unknown[0]
        )
    target = b.connect(vm.host, settings.replica_server)
    storage = b.admit(target, vm.host.fqdn, settings, vm.name)
    excluded = {p.lower() for p in settings.excluded_disk_paths}
    create_replica(b, vm, target, settings, storage, now)
    for disk in vm.disks:
        disk.excluded = disk.path.lower() in excluded
    for disk in target.vms[vm.id].disks:
        disk.excluded = disk.name.lower() in {d.name.lower() for d in vm.disks if d.excluded}
    rel = Relationship(vm, M.Primary, S.ReadyForInitialReplication, settings, primary_server=vm.host.fqdn, now=now)
    rel.tracking = False
    vm.replication = rel
    return rel


def create_replica(
    b: LabBackend, vm: VirtualMachine, target: LabHost, settings: ReplicationSettings, storage: str, now: float
) -> VirtualMachine:
    existing = target.vms.get(vm.id)
    if existing is not None:
        raise errors.replica_already_exists(vm.name, str(vm.id).upper(), settings.replica_server)
    folder = f"{storage}\\Hyper-V Replica\\Virtual hard disks\\{str(vm.id).upper()}"
    disks = []
    for disk in vm.disks:
        copy = disk.blank_copy()
        copy.path = f"{folder}\\{disk.name}"
        disks.append(copy)
    replica = VirtualMachine(
        target,
        vm.name,
        vm.id,
        disks,
        processor_count=vm.processor_count,
        memory_bytes=vm.memory_bytes,
        generation=vm.generation,
        path=f"{storage}\\Hyper-V Replica\\Virtual Machines\\{str(vm.id).upper()}",
        tier=vm.tier,
        tags=vm.tags,
        created=now,
    )
    replica.adapters = [a.copy(None) for a in vm.adapters]
    replica.like(vm)
    replica.written_until = now
    rrel = Relationship(
        replica,
        M.Replica,
        S.WaitingForInitialReplication,
        dataclasses.replace(settings),
        primary_server=vm.host.fqdn,
        now=now,
    )
    rrel.tracking = False
    replica.replication = rrel
    target.add_vm(replica)
    return replica


def enable_as_replica(b: LabBackend, vm: VirtualMachine, allowed_primary: str | None) -> Relationship:
    """Enable-VMReplication -AsReplica: make an existing VM a Replica waiting for initial replication."""
    if vm.replication is not None:
        raise errors.already_enabled(vm.name)
    _require_replica_allowed(vm.host, allowed_primary)
    if vm.state is not VMState.Off:
        raise errors.invalid_state(vm.name, vm.state.name)
    settings = ReplicationSettings(replica_server=vm.host.fqdn, allowed_primary_server=allowed_primary)
    rel = Relationship(
        vm, M.Replica, S.WaitingForInitialReplication, settings, primary_server=allowed_primary or "", now=b.now()
    )
    rel.tracking = False
    vm.replication = rel
    return rel


def _require_replica_allowed(host: LabHost, allowed_primary: str | None) -> None:
    rs = host.replica_server
    if not allowed_primary and not (rs.allowed_from_any_server or rs.authorization_entries):
        raise errors.parameter_not_provided(
            "AllowedPrimaryServer", f"because Replica server '{host.fqdn}' does not accept replication from any server"
        )


# -- initial replication ------------------------------------------------------------------------------------


def start_initial_replication(
    b: LabBackend, vm: VirtualMachine, destination: str | None, start_time: float | None
) -> None:
    now = b.now()
    rel = _mode_guard(vm.replication, vm, "Start-VMInitialReplication", M.Primary)
    rel.require_state("Start-VMInitialReplication", S.ReadyForInitialReplication)
    if start_time is not None and not now < start_time <= now + WEEK:
        raise errors.out_of_range(
            "InitialReplicationStartTime", start_time, "the start time must be in the future and within 7 days"
        )
    rel.log.clear()
    rel.tracking = True
    if destination is not None:
        b.catch_up(vm, now)
        key = normalize_path(destination)
        b.exports[key] = ExportMedia(destination, vm.id, vm.name, vm.host.fqdn, [d.snapshot() for d in vm.disks], now)
        rel.offline_media = destination
        rel.state = S.InitialReplicationInProgress
        rel.initial_replication_start = now
        rel.initial_replication_size = sum(d.used_bytes() for d in vm.disks if not d.excluded)
        return
    if start_time is None:
        engine.locate_replica(b, rel)
    engine.start_initial(b, rel, now, start_time)
    if start_time is None:
        engine.begin_task(b, rel, now)


def normalize_path(path: str) -> str:
    return path.replace("/", "\\").rstrip("\\").lower()


def import_initial_replication(b: LabBackend, vm: VirtualMachine, path: str) -> None:
    """Import-VMInitialReplication on the replica: load the offline copy, then deltas flow."""
    now = b.now()
    rel = _mode_guard(vm.replication, vm, "Import-VMInitialReplication", M.Replica)
    rel.require_state("Import-VMInitialReplication", S.WaitingForInitialReplication)
    media = b.exports.get(normalize_path(path))
    if media is None:
        # The media was shipped and mounted under another path: the lab's store is shared, match by VM.
        candidates = [m for m in b.exports.values() if m.vm_id == vm.id]
        media = candidates[-1] if len(candidates) >= 1 else None
    if media is None or media.vm_id != vm.id:
        raise errors.object_not_found(
            f"No initial replication files for virtual machine '{vm.name}' were found at '{path}'.", path
        )
    for disk, content in zip(vm.disks, media.contents, strict=True):
        if not disk.excluded:
            disk.load(content)
    b.exports.pop(normalize_path(media.path), None)
    rel.state = S.Replicating
    rel.last_replication_time = rel.last_applied_log_time = now
    rel.initial_replication_size = sum(d.used_bytes() for d in vm.disks)
    primary = b.find_vm(rel.primary_server, vm.id)
    prel = primary.replication if primary else None
    if prel is not None and prel.mode is M.Primary and prel.offline_media is not None:
        prel.offline_media = None
        prel.state = S.Replicating
        prel.last_replication_time = now
        engine.schedule_cycle(b, prel, now + prel.settings.frequency_sec)


def stop_initial_replication(b: LabBackend, vm: VirtualMachine) -> None:
    rel = _mode_guard(vm.replication, vm, "Stop-VMInitialReplication", M.Primary)
    allowed = rel.state in (S.InitialReplicationInProgress, S.Suspended, S.Error) or (
        rel.last_replication_time is None and rel.state is not S.ReadyForInitialReplication
    )
    if not allowed:
        raise errors.invalid_replication_state(vm.name, rel.state.name, "Stop-VMInitialReplication")
    if rel.offline_media:
        b.exports.pop(normalize_path(rel.offline_media), None)
    rel.task = None
    rel.offline_media = None
    rel.tracking = False
    rel.log.clear()
    rel.last_error = None
    rel.state = S.ReadyForInitialReplication


# -- suspend / resume / stop / remove ---------------------------------------------------------------------


def suspend(b: LabBackend, vm: VirtualMachine) -> None:
    now = b.now()
    rel = _mode_guard(vm.replication, vm, "Suspend-VMReplication", M.Primary, M.Replica)
    if rel.mode is M.Primary:
        rel.require_state("Suspend-VMReplication", S.Replicating, S.Resynchronizing, S.InitialReplicationInProgress)
    else:
        rel.require_state("Suspend-VMReplication", S.Replicating, S.Resynchronizing, S.WaitingForInitialReplication)
    b.catch_up(vm, now)
    if rel.state is S.Resynchronizing and rel.mode is M.Primary:
        engine.suspend_task(rel, now)
        rel.state = S.ResynchronizeSuspended
        return
    if rel.task is not None:
        engine.suspend_task(rel, now)
    rel.state = S.Suspended


def resume(b: LabBackend, vm: VirtualMachine, resynchronize: bool, start_time: float | None) -> None:
    now = b.now()
    rel = _mode_guard(vm.replication, vm, "Resume-VMReplication", M.Primary, M.Replica)
    if start_time is not None and not resynchronize:
        raise errors.parameter_not_provided("Resynchronize", "with ResynchronizeStartTime")
    rel.require_state(
        "Resume-VMReplication",
        S.Suspended,
        S.WaitingForStartResynchronize,
        S.ResynchronizeSuspended,
        S.Error,
        S.UpdateError,
    )
    if start_time is not None and not now < start_time <= now + WEEK:
        raise errors.out_of_range(
            "ResynchronizeStartTime", start_time, "the start time must be in the future and within 7 days"
        )
    b.catch_up(vm, now)
    if resynchronize:
        if rel.mode is not M.Primary:
            raise errors.not_applicable("Resume-VMReplication -Resynchronize", vm.name, "Replica")
        if rel.last_replication_time is None:
            raise errors.invalid_replication_state(vm.name, rel.state.name, "Resume-VMReplication -Resynchronize")
        engine.start_resync(b, rel, now, start_time)
        if start_time is None:
            engine.begin_task(b, rel, now)
        return
    if rel.resync_required or rel.state is S.WaitingForStartResynchronize:
        raise errors.invalid_replication_state(
            vm.name, rel.state.name, "Resume-VMReplication without -Resynchronize (resynchronization is required)"
        )
    rel.last_error = None
    if rel.state is S.ResynchronizeSuspended:
        rel.state = S.Resynchronizing
        engine.resume_task(b, rel, now)
    elif rel.mode is M.Replica:
        rel.state = S.Replicating if rel.last_replication_time is not None else S.WaitingForInitialReplication
    elif rel.task is not None and rel.task.kind == "initial":
        rel.state = S.InitialReplicationInProgress
        engine.resume_task(b, rel, now)
    elif rel.offline_media is not None:
        rel.state = S.InitialReplicationInProgress
    elif rel.last_replication_time is None:
        engine.start_initial(b, rel, now, None)
    else:
        rel.state = S.Replicating
        if rel.next_cycle_at is None or rel.next_cycle_at < now:
            engine.schedule_cycle(b, rel, now + rel.settings.frequency_sec)


def stop_replication(b: LabBackend, vm: VirtualMachine) -> None:
    """Stop-VMReplication: cancel a resynchronization (it does not remove replication)."""
    rel = _mode_guard(vm.replication, vm, "Stop-VMReplication", M.Primary, M.Replica)
    resyncing = rel.task is not None and rel.task.kind == "resync"
    if not resyncing and rel.state not in (
        S.Resynchronizing,
        S.ResynchronizeSuspended,
        S.WaitingForUpdateCompletion,
        S.UpdateError,
    ):
        raise errors.invalid_replication_state(vm.name, rel.state.name, "Stop-VMReplication")
    if rel.mode is M.Primary:
        replica = b.find_vm(rel.settings.replica_server, vm.id)
        if replica is not None and replica.replication is not None and replica.replication.state is S.Resynchronizing:
            replica.replication.state = S.Replicating
        rel.task = None
        rel.resync_required = True
        rel.tracking = False
        rel.log.clear()
        rel.state = S.WaitingForStartResynchronize
    else:
        rel.state = S.Replicating


def remove(b: LabBackend, vm: VirtualMachine) -> None:
    """Remove-VMReplication: drop the relationship on this host only; the VM stays as a plain VM."""
    if vm.test_of is not None:
        raise errors.not_applicable("Remove-VMReplication", vm.name, "TestReplica")
    rel = vm.replication
    if rel is None:
        raise errors.invalid_replication_state(vm.name, S.Disabled.name, "Remove-VMReplication")
    if rel.offline_media:
        b.exports.pop(normalize_path(rel.offline_media), None)
    rel.task = None
    rel.next_cycle_at = None
    vm.replication = None
    for disk in vm.disks:
        disk.excluded = False


# -- settings and the original primary becoming a Replica --------------------------------------------------

SETTING_FIELDS = {
    "replica_server",
    "replica_port",
    "auth",
    "certificate_thumbprint",
    "frequency_sec",
    "recovery_history",
    "vss_frequency_hours",
    "compression",
    "replicate_host_kvp_items",
    "bypass_proxy_server",
    "auto_resynchronize",
    "auto_resynchronize_start",
    "auto_resynchronize_end",
    "excluded_disk_paths",
    "allowed_primary_server",
}


def set_settings(b: LabBackend, vm: VirtualMachine, changes: dict[str, Any]) -> Relationship:
    """Set-VMReplication with settings only (no -Reverse / -AsReplica)."""
    rel = _mode_guard(vm.replication, vm, "Set-VMReplication", M.Primary, M.Replica)
    if not changes:
        raise errors.invalid_argument(
            f"No replication settings were changed for virtual machine '{vm.name}': specify at least one setting.",
            None,
        )
    if rel.mode is M.Replica:
        raise errors.settings_on_replica(vm.name)
    updated = dataclasses.replace(rel.settings, **changes)
    given = set(changes)
    if "recovery_history" in given and updated.recovery_history == 0 and "vss_frequency_hours" not in given:
        updated.vss_frequency_hours = 0
    if updated.auth is ReplicationAuthenticationType.Kerberos and "auth" in given:
        updated.certificate_thumbprint = changes.get("certificate_thumbprint")
    check_settings(updated, given)
    if given & {"replica_server", "replica_port", "auth", "certificate_thumbprint"}:
        target = b.connect(vm.host, updated.replica_server)
        b.admit(target, vm.host.fqdn, updated, vm.name)
    rel.settings = updated
    if "frequency_sec" in given and rel.next_cycle_at is not None:
        engine.schedule_cycle(b, rel, b.now() + updated.frequency_sec)
    return rel


def as_replica(b: LabBackend, vm: VirtualMachine, allowed_primary: str | None) -> Relationship:
    """Set-VMReplication -AsReplica on the original primary after an unplanned failover."""
    rel = _mode_guard(vm.replication, vm, "Set-VMReplication -AsReplica", M.Primary)
    _require_replica_allowed(vm.host, allowed_primary)
    if vm.state is not VMState.Off:
        raise errors.invalid_state(vm.name, vm.state.name)
    rel.mode = M.Replica
    rel.state = S.WaitingForInitialReplication
    rel.task = None
    rel.next_cycle_at = None
    rel.tracking = False
    rel.log.clear()
    rel.resync_required = False
    rel.last_error = None
    rel.offline_media = None
    rel.history.clear()
    rel.last_point_at = None
    rel.last_replication_time = rel.last_applied_log_time = None
    rel.stats.reset(b.now())
    rel.settings = dataclasses.replace(
        rel.settings, replica_server=vm.host.fqdn, allowed_primary_server=allowed_primary
    )
    rel.primary_server = allowed_primary or ""
    return rel
