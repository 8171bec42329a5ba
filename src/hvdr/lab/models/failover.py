"""Failover: planned (-Prepare), unplanned (to the latest or a chosen recovery point), test, complete,
cancel, and reverse replication (reference §1.10–§1.11, §3).

Choices where the reference is silent: a second test failover of one VM is refused
(``InvalidState``); ``-Reverse`` towards a host whose copy of the VM was prepared
for a planned failover reverses at once (both sides Replicating) and replicates whatever the failed-over VM
wrote since (the difference of the two copies); towards a copy waiting as a Replica (``-AsReplica``) or a
host without the VM, the new primary waits for initial replication; towards any other copy it fails with
``InvalidState`` naming that copy. The split-brain check Hyper-V Manager makes
before an unplanned failover is not part of the cmdlet: an unplanned failover while the primary still runs
is allowed, and the control API reports the split brain (``hvdr.lab.models.guest.split_brain``).

Time: ``-Prepare`` is the final sync; it returns after the unsent changes have crossed the link
(``base_latency + bytes / bandwidth``, half the bytes with compression, as every transfer). Every failover
(planned, unplanned, test) queues the adapters' failover IP configuration for the guest's next boot.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING, Any

from hvdr.lab.models import engine, errors, guest
from hvdr.lab.models.disks import ChangeLog, RecoveryPoint
from hvdr.lab.models.enums import (
    ReplicationAuthenticationType,
    SnapshotType,
    VMReplicationMode,
    VMReplicationState,
    VMReplicationType,
    VMState,
)
from hvdr.lab.models.protection import check_server_name, create_replica
from hvdr.lab.models.replication import Relationship
from hvdr.lab.models.vms import VirtualMachine

if TYPE_CHECKING:
    from hvdr.lab.models.backend import LabBackend

S = VMReplicationState
M = VMReplicationMode
RECOVERY_TYPES = (SnapshotType.Replica, SnapshotType.AppConsistentReplica, SnapshotType.SyncedReplica)


def _relationship(vm: VirtualMachine, cmdlet: str) -> Relationship:
    if vm.test_of is not None:
        raise errors.not_applicable(cmdlet, vm.name, "TestReplica")
    if vm.replication is None:
        raise errors.not_applicable(cmdlet, vm.name, "None")
    return vm.replication


def _check_point(rel: Relationship, point: RecoveryPoint | None, owner: uuid.UUID | None) -> None:
    if point is None:
        return
    if owner != rel.vm.id or point not in rel.history.points or point.snapshot_type not in RECOVERY_TYPES:
        raise errors.invalid_argument(
            f"The snapshot '{point.name}' is not a recovery point of Replica virtual machine '{rel.vm.name}'.",
            point.name,
        )


def start_failover(
    b: LabBackend,
    vm: VirtualMachine,
    *,
    prepare: bool = False,
    as_test: bool = False,
    point: RecoveryPoint | None = None,
    point_owner: uuid.UUID | None = None,
) -> VirtualMachine | None:
    """Start-VMFailover; returns the test VM for ``-AsTest``."""
    now = b.now()
    rel = _relationship(vm, "Start-VMFailover")
    if rel.mode is M.Primary:
        if as_test or point is not None:
            raise errors.invalid_argument(
                "Only the Prepare parameter is valid when Start-VMFailover runs on a primary virtual machine.",
                "Prepare",
            )
        if not prepare:
            raise errors.parameter_not_provided("Prepare", "to start a failover on a primary virtual machine")
        _check_prepare(rel)
        b.catch_up(vm, now)
        b.wait(now + engine.transfer_seconds(b, rel, rel.pending_bytes()))
        _check_prepare(rel)
        now = b.now()
        error = engine.send(b, rel, now, VMReplicationType.Planned)
        if error is not None:
            raise error
        rel.state = S.PreparedForFailover
        rel.tracking = False
        return None
    if prepare:
        raise errors.not_applicable("Start-VMFailover -Prepare", vm.name, rel.mode.name)
    _check_point(rel, point, point_owner)
    if as_test:
        return _test_failover(b, rel, point, now)
    if vm.state is not VMState.Off:
        raise errors.invalid_state(vm.name, vm.state.name)
    rel.require_state("Start-VMFailover", S.Replicating, S.Resynchronizing, S.Suspended, S.WaitingForUpdateCompletion)
    if rel.last_replication_time is None:
        raise errors.invalid_replication_state(
            vm.name, rel.state.name, "Start-VMFailover (no replication received yet)"
        )
    if rel.state is S.Resynchronizing:
        rel.state = S.Replicating
    rel.failover_stash = [d.snapshot() for d in vm.disks]
    if point is not None:
        for disk, content in zip(vm.disks, rel.history.materialize(vm.disks, point), strict=True):
            disk.load(content)
        rel.failed_over_type = (
            VMReplicationType.ApplicationConsistent
            if point.snapshot_type is SnapshotType.AppConsistentReplica
            else VMReplicationType.Regular
        )
    else:
        rel.failed_over_type = VMReplicationType.Planned if rel.synced_for_failover else VMReplicationType.Regular
    rel.failed_over_to = point
    rel.state = S.FailedOverWaitingCompletion
    rel.last_failover_time = now
    b.record_failover(vm, rel.primary_server, rel.failed_over_type.name, now)
    guest.inject_failover_ip(vm)
    return None


def _check_prepare(rel: Relationship) -> None:
    rel.require_state("Start-VMFailover -Prepare", S.Replicating)
    if rel.vm.state is not VMState.Off:
        raise errors.invalid_state(
            rel.vm.name, rel.vm.state.name, "Turn off the virtual machine before a planned failover."
        )


def _test_failover(b: LabBackend, rel: Relationship, point: RecoveryPoint | None, now: float) -> VirtualMachine:
    vm = rel.vm
    if rel.mode is not M.Replica:
        raise errors.not_applicable("Start-VMFailover -AsTest", vm.name, rel.mode.name)
    rel.require_state("Start-VMFailover -AsTest", S.Replicating, S.Suspended)
    if rel.last_replication_time is None:
        raise errors.invalid_replication_state(vm.name, rel.state.name, "Start-VMFailover -AsTest")
    if rel.test_vm is not None:
        raise errors.test_failover_in_progress(vm.name, rel.test_vm.name)
    contents = rel.history.materialize(vm.disks, point) if point else [d.snapshot() for d in vm.disks]
    disks = []
    for disk, content in zip(vm.disks, contents, strict=True):
        copy = disk.blank_copy()
        copy.path = disk.path.replace(".vhdx", " - Test.vhdx")
        copy.load(content)
        disks.append(copy)
    test = VirtualMachine(
        vm.host,
        f"{vm.name} - Test",
        uuid.uuid4(),
        disks,
        processor_count=vm.processor_count,
        memory_bytes=vm.memory_bytes,
        generation=vm.generation,
        path=vm.path,
        tier=vm.tier,
        tags=vm.tags,
        created=now,
    )
    test.like(vm)
    test.adapters = [a.copy(a.test_switch_name) for a in vm.adapters]
    test.test_of = vm
    guest.inject_failover_ip(test)
    vm.host.add_vm(test)
    b.apply_guest_faults()
    rel.test_vm = test
    rel.last_test_failover_time = now
    return test


def awaits_completion(vm: VirtualMachine) -> bool:
    """Whether Complete-VMFailover applies: a Replica VM failed over and not yet committed."""
    rel = vm.replication
    return (
        vm.test_of is None and rel is not None and rel.mode is M.Replica and rel.state is S.FailedOverWaitingCompletion
    )


def failover_in_progress(vm: VirtualMachine) -> bool:
    """Whether Stop-VMFailover applies: a test failover, a prepared planned failover, or an uncommitted failover."""
    rel = vm.replication
    if vm.test_of is not None or rel is None:
        return False
    return (
        rel.test_vm is not None
        or (rel.mode is M.Primary and rel.state is S.PreparedForFailover)
        or (rel.mode is M.Replica and rel.state in (S.FailedOverWaitingCompletion, S.RecoveryInProgress))
    )


def complete_failover(b: LabBackend, vm: VirtualMachine) -> None:
    rel = _relationship(vm, "Complete-VMFailover")
    rel.require_mode("Complete-VMFailover", M.Replica)
    rel.require_state("Complete-VMFailover", S.FailedOverWaitingCompletion)
    rel.state = S.FailedOver
    rel.history.clear()
    rel.failover_stash = None


def stop_failover(b: LabBackend, vm: VirtualMachine) -> None:
    """Stop-VMFailover: remove a test VM, or revert a failover / a prepared planned failover."""
    now = b.now()
    rel = _relationship(vm, "Stop-VMFailover")
    if rel.test_vm is not None:
        test = rel.test_vm
        if test.state is not VMState.Off:
            test.stop(now, turn_off=True)
        test.host.remove_vm(test)
        rel.test_vm = None
        return
    if rel.mode is M.Primary and rel.state is S.PreparedForFailover:
        rel.state = S.Replicating
        rel.tracking = True
        return
    if rel.mode is M.Replica and rel.state in (S.FailedOverWaitingCompletion, S.RecoveryInProgress):
        if vm.state is not VMState.Off:
            b.catch_up(vm, now)
            vm.stop(now, turn_off=True)
        if rel.failover_stash is not None:
            for disk, content in zip(vm.disks, rel.failover_stash, strict=True):
                disk.load(content)
        rel.failover_stash = None
        rel.failed_over_to = None
        rel.state = S.Replicating
        vm.failover_ip_pending = False
        return
    raise errors.invalid_replication_state(vm.name, rel.state.name, "Stop-VMFailover")


def reverse(b: LabBackend, vm: VirtualMachine, replica_server: str | None, changes: dict[str, Any]) -> Relationship:
    """Set-VMReplication -Reverse on the failed-over replica: it becomes the primary."""
    now = b.now()
    rel = _relationship(vm, "Set-VMReplication -Reverse")
    rel.require_mode("Set-VMReplication -Reverse", M.Replica)
    rel.require_state("Set-VMReplication -Reverse", S.FailedOverWaitingCompletion, S.FailedOver)
    settings = dataclasses.replace(rel.settings, **changes)
    if settings.auth is ReplicationAuthenticationType.Certificate and not changes.get("certificate_thumbprint"):
        raise errors.invalid_argument(
            "The CertificateThumbprint parameter must be provided to reverse replication that uses certificate "
            "authentication.",
            "CertificateThumbprint",
        )
    settings.replica_server = replica_server or rel.primary_server
    check_server_name(settings.replica_server)
    target = b.connect(vm.host, settings.replica_server)
    storage = b.admit(target, vm.host.fqdn, settings, vm.name)
    b.catch_up(vm, now)
    old = target.vms.get(vm.id)
    orel = old.replication if old is not None else None
    if old is None:
        create_replica(b, vm, target, settings, storage, now)
        synced = False
    elif orel is not None and orel.mode is M.Primary and orel.state is S.PreparedForFailover:
        synced = True
    elif orel is not None and orel.mode is M.Replica and orel.state is S.WaitingForInitialReplication:
        synced = False
    else:
        state = orel.state.name if orel else S.Disabled.name
        raise errors.invalid_replication_state(old.name, state, f"Set-VMReplication -Reverse to '{target.fqdn}'")
    replica = target.vms[vm.id]
    rrel = replica.replication
    assert rrel is not None
    rrel.mode = M.Replica
    rrel.settings = dataclasses.replace(settings)
    rrel.primary_server = vm.host.fqdn
    rrel.tracking = False
    rrel.log.clear()
    rrel.history.clear()
    rrel.last_point_at = None
    rrel.next_cycle_at = None
    rrel.task = None
    rrel.last_error = None
    rrel.stats.reset(now)
    rel.mode = M.Primary
    rel.settings = settings
    rel.primary_server = vm.host.fqdn
    rel.history.clear()
    rel.last_point_at = None
    rel.failover_stash = None
    rel.failed_over_to = None
    rel.synced_for_failover = False
    rel.last_error = None
    rel.stats.reset(now)
    rel.log = ChangeLog.for_disks(len(vm.disks))
    if synced:
        for index, (mine, theirs) in enumerate(zip(vm.disks, replica.disks, strict=True)):
            changed = theirs.diff(mine)
            rel.log.changes[index] = changed
            rel.log.size_bytes += len(changed) * mine.block_size
            rel.log.writes += len(changed)
        rel.tracking = True
        rel.state = rrel.state = S.Replicating
        rel.last_replication_time = rrel.last_replication_time = now
        engine.schedule_cycle(b, rel, now + settings.frequency_sec)
    else:
        rel.tracking = False
        rel.state = S.ReadyForInitialReplication
        rel.last_replication_time = None
        rrel.state = S.WaitingForInitialReplication
        rrel.last_replication_time = None
    return rel


def vm_disks_equal(a: VirtualMachine, b: VirtualMachine) -> bool:
    """The two copies hold the same data on every replicated disk."""
    return all(x.excluded or x.blocks == y.blocks for x, y in zip(a.disks, b.disks, strict=True))


__all__ = ["complete_failover", "reverse", "start_failover", "stop_failover", "vm_disks_equal"]
