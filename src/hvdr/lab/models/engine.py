"""Replication over time: delta cycles, initial replication, resynchronization, recovery points, crashes.

Everything here runs from the backend's event queue (or from a cmdlet that must send now, like
``Start-VMFailover -Prepare``) with the backend lock held. A cycle closes the primary's log at the cycle's
moment, so the replica after applying it holds exactly the primary's disks at that moment.

Timing: a transfer is applied at the moment its log is closed; its latency (reported by
Measure-VMReplication) is ``base_latency + bytes / bandwidth`` (half the bytes with compression). Initial
replication takes ``used bytes / bandwidth`` and resynchronization ``disk bytes / compare_rate`` of
simulated time. Recovery points are taken hourly at a cycle boundary; the point is application-consistent
when the VSS interval has elapsed and the primary's guest answers (VSS needs its integration services).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from hvdr.lab.models import errors
from hvdr.lab.models.disks import RecoveryPoint
from hvdr.lab.models.enums import SnapshotType, VMReplicationMode, VMReplicationState, VMReplicationType, VMState
from hvdr.lab.models.replication import HOUR, Relationship, Task, new_point_id, point_name
from hvdr.lab.seam import PSError

if TYPE_CHECKING:
    from hvdr.lab.models.backend import LabBackend
    from hvdr.lab.models.hosts import LabHost
    from hvdr.lab.models.vms import VirtualMachine

S = VMReplicationState
M = VMReplicationMode
LOG_LIMIT = 0.5
"""A replica log larger than this fraction of the replicated disks' size forces a resynchronization."""


def dispatch(b: LabBackend, at: float, kind: str, rel: Relationship, task: Task | None) -> None:
    vm = rel.vm
    if vm.replication is not rel or vm.host.vms.get(vm.id) is not vm or rel.mode is not M.Primary:
        return
    if b.crashed(vm.host.fqdn):  # a powered-off host does nothing; try again when it may be back
        if kind == "cycle" and rel.next_cycle_at == at:
            schedule_cycle(b, rel, at + rel.settings.frequency_sec)
        elif kind == "auto_resync":
            b.schedule(at + 60, kind, rel, task)
        elif kind == "task_start" and task is not None and rel.task is task and task.starts_at == at:
            task.starts_at = at + 60
            b.schedule(task.starts_at, kind, rel, task)
        elif kind == "task_end" and task is not None and rel.task is task:
            task.finishes_at = at + 60
            b.schedule(task.finishes_at, kind, rel, task)
        return
    if kind == "cycle":
        if rel.next_cycle_at == at:
            run_cycle(b, rel, at)
    elif kind == "task_start":
        if rel.task is task and task is not None and task.starts_at == at and task.finishes_at is None:
            begin_task(b, rel, at)
    elif kind == "task_end":
        if rel.task is task and task is not None and task.finishes_at == at:
            finish_task(b, rel, at)
    elif kind == "auto_resync" and rel.state is S.WaitingForStartResynchronize and rel.task is None:
        start_resync(b, rel, at, at)


# -- delta cycles -------------------------------------------------------------------------------------------


def schedule_cycle(b: LabBackend, rel: Relationship, at: float) -> None:
    rel.next_cycle_at = at
    b.schedule(at, "cycle", rel)


def run_cycle(b: LabBackend, rel: Relationship, t: float) -> None:
    """One tick of a primary: bring its log to ``t`` and, when replicating, send it."""
    b.catch_up(rel.vm, t)
    schedule_cycle(b, rel, t + rel.settings.frequency_sec)
    rel.roll_window(t, rel.vm.host.replica_server.monitoring_interval.total_seconds())
    if rel.state is S.Replicating and rel.vm.replication is rel:
        send(b, rel, t, VMReplicationType.Regular)


def locate_replica(b: LabBackend, rel: Relationship) -> VirtualMachine:
    """The replica VM this primary sends to, or the error the send fails with."""
    vm = rel.vm
    target = b.connect(vm.host, rel.settings.replica_server)
    if b.faults.storage_full(target.fqdn):
        raise errors.insufficient_storage(rel.settings.replica_server, vm.name)
    replica = target.vms.get(vm.id)
    if replica is None or replica.replication is None or replica.replication.mode is not M.Replica:
        raise errors.replica_not_found(rel.settings.replica_server, vm.name, str(vm.id).upper())
    return replica


def send(b: LabBackend, rel: Relationship, t: float, kind: VMReplicationType) -> PSError | None:
    """Send the primary's log to its replica now; returns the error when it could not be delivered."""
    try:
        replica = locate_replica(b, rel)
        rrel = replica.replication
        assert rrel is not None
        if rrel.state not in (S.Replicating, S.Resynchronizing):
            raise errors.invalid_replication_state(replica.name, rrel.state.name, "Receive replication")
    except PSError as error:
        fail(rel, error)
        return error
    deliver(b, rel, replica, t, kind)
    return None


def fail(rel: Relationship, error: PSError) -> None:
    rel.last_error = error.message
    rel.stats.miss()
    if isinstance(error, errors.InsufficientStorage):
        rel.state = S.Error


def transfer_seconds(b: LabBackend, rel: Relationship, size: int) -> float:
    """How long ``size`` bytes of this relationship's changes take over the link."""
    sent = size // 2 if rel.settings.compression else size
    return b.transfer.base_latency + sent / b.transfer.bandwidth


def deliver(b: LabBackend, rel: Relationship, replica: VirtualMachine, t: float, kind: VMReplicationType) -> None:
    rrel = replica.replication
    assert rrel is not None
    log = rel.log.cut()
    latency = transfer_seconds(b, rel, log.size_bytes)
    rrel.settings.frequency_sec = rel.settings.frequency_sec
    rrel.settings.recovery_history = rel.settings.recovery_history
    rrel.settings.vss_frequency_hours = rel.settings.vss_frequency_hours
    rrel.history.apply(replica.disks, log)
    rel.last_error = None
    rrel.last_error = None
    for side in (rel, rrel):
        side.last_replication_time = t
        side.stats.success(log.size_bytes, latency)
        side.last_replication_type = kind
    rrel.last_applied_log_time = t
    if kind is VMReplicationType.Planned:
        rrel.synced_for_failover = True
    take_recovery_point(b, rel, rrel, t)
    b.cycles_completed += 1


def take_recovery_point(b: LabBackend, rel: Relationship, rrel: Relationship, t: float) -> None:
    keep = rel.settings.recovery_history
    if keep <= 0:
        rrel.history.clear()
        return
    if rrel.last_point_at is not None and t - rrel.last_point_at < HOUR:
        return
    vss = rel.settings.vss_frequency_hours
    app = vss > 0 and rel.vm.guest_ready(t) and (rel.last_vss_time is None or t - rel.last_vss_time >= vss * HOUR - 1)
    if app:
        rel.last_vss_time = rrel.last_vss_time = t
        rel.last_replication_type = rrel.last_replication_type = VMReplicationType.ApplicationConsistent
    kind = SnapshotType.AppConsistentReplica if app else SnapshotType.Replica
    label = "Application-consistent" if app else "Standard"
    point = RecoveryPoint(new_point_id(), point_name(rrel.vm.name, label, t), kind, t)
    rrel.history.add(point, len(rrel.vm.disks), keep)
    rrel.last_point_at = t


# -- change tracking limits and crashes ---------------------------------------------------------------------


def check_log_limit(b: LabBackend, vm: VirtualMachine, t: float) -> None:
    rel = vm.replication
    if rel is None or rel.mode is not M.Primary or not rel.tracking:
        return
    capacity = sum(d.size_bytes for d in vm.disks if not d.excluded)
    if rel.log.size_bytes > LOG_LIMIT * capacity:
        require_resync(
            b,
            rel,
            t,
            f"The replica log of virtual machine '{vm.name}' exceeded 50 percent of the "
            "size of its virtual hard disks.",
        )


def require_resync(b: LabBackend, rel: Relationship, t: float, why: str) -> None:
    """Hyper-V stops tracking and waits for a resynchronization (health Critical)."""
    rel.resync_required = True
    rel.tracking = False
    rel.log.clear()
    rel.task = None
    rel.last_error = why
    rel.state = S.WaitingForStartResynchronize
    if rel.settings.auto_resynchronize:
        b.schedule(
            next_window(t, rel.settings.auto_resynchronize_start, rel.settings.auto_resynchronize_end),
            "auto_resync",
            rel,
        )


def next_window(t: float, start: timedelta, end: timedelta) -> float:
    """The first moment at or after ``t`` inside the daily window [start, end) (UTC, may wrap midnight)."""
    moment = datetime.fromtimestamp(t, UTC)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    offset = moment - midnight
    inside = (start <= offset < end) if start <= end else (offset >= start or offset < end)
    if inside:
        return t
    begin = midnight + start
    if begin <= moment:
        begin += timedelta(days=1)
    return begin.timestamp()


def crash_host(b: LabBackend, host: LabHost, t: float) -> None:
    """Power loss: running VMs stop uncleanly and the primaries' logs are lost."""
    for vm in list(host.vms.values()):
        b.catch_up(vm, t)
        if vm.state is not VMState.Off:
            vm.power_off()
        rel = vm.replication
        if rel is None or rel.mode is not M.Primary:
            continue
        if rel.last_replication_time is None:
            if rel.state is S.InitialReplicationInProgress:
                rel.task = None
                rel.state = S.Error
                rel.last_error = f"Initial replication of virtual machine '{vm.name}' was interrupted."
        elif rel.state not in (S.PreparedForFailover, S.FailedOver, S.FailedOverWaitingCompletion):
            require_resync(
                b,
                rel,
                t,
                f"The replica log of virtual machine '{vm.name}' was not closed "
                "gracefully (the host stopped unexpectedly).",
            )


# -- initial replication and resynchronization ------------------------------------------------------------


def start_initial(b: LabBackend, rel: Relationship, now: float, at: float | None) -> None:
    task = Task("initial", at if at is not None else now)
    rel.task = task
    rel.state = S.InitialReplicationInProgress
    rel.initial_replication_start = task.starts_at
    rel.last_error = None
    b.schedule(task.starts_at, "task_start", rel, task)


def start_resync(b: LabBackend, rel: Relationship, now: float, at: float | None) -> None:
    task = Task("resync", at if at is not None else now)
    rel.task = task
    rel.resynchronize_start = task.starts_at
    if at is not None and at > now:
        rel.state = S.WaitingForStartResynchronize
    b.schedule(task.starts_at, "task_start", rel, task)


def begin_task(b: LabBackend, rel: Relationship, t: float) -> None:
    task = rel.task
    assert task is not None
    vm = rel.vm
    try:
        replica = locate_replica(b, rel)
    except PSError as error:
        rel.task = None
        fail(rel, error)
        rel.state = S.Error
        return
    disks = [d for d in vm.disks if not d.excluded]
    if task.kind == "initial":
        size = sum(d.used_bytes() for d in disks)
        sent = size // 2 if rel.settings.compression else size
        duration = sent / b.transfer.bandwidth
        rel.initial_replication_size = size
    else:
        duration = sum(d.size_bytes for d in disks) / b.transfer.compare_rate
        rel.state = S.Resynchronizing
        rel.resync_required = False
        rel.tracking = True
        rel.log.clear()
        rel.last_error = None
        rrel = replica.replication
        assert rrel is not None
        rrel.state = S.Resynchronizing
    if task.remaining is not None:
        duration = task.remaining
    task.finishes_at = t + max(duration, 0.001)
    task.remaining = None
    b.schedule(task.finishes_at, "task_end", rel, task)


def finish_task(b: LabBackend, rel: Relationship, t: float) -> None:
    task = rel.task
    assert task is not None
    vm = rel.vm
    b.catch_up(vm, t)
    try:
        replica = locate_replica(b, rel)
        rrel = replica.replication
        assert rrel is not None
        receiving = (S.WaitingForInitialReplication,) if task.kind == "initial" else (S.Resynchronizing, S.Replicating)
        if rrel.state not in receiving:
            raise errors.invalid_replication_state(replica.name, rrel.state.name, "Receive replication")
    except PSError as error:
        rel.task = None
        fail(rel, error)
        rel.state = S.Error
        return
    copy_disks(vm, replica)
    rel.task = None
    rel.log.clear()
    rel.tracking = True
    rel.resync_required = False
    rel.last_error = rrel.last_error = None
    rrel.history.clear()
    rrel.last_point_at = None
    for side in (rel, rrel):
        side.state = S.Replicating
        side.last_replication_time = t
    rrel.last_applied_log_time = t
    if task.kind == "initial":
        rrel.initial_replication_size = rel.initial_replication_size
    schedule_cycle(b, rel, t + rel.settings.frequency_sec)


def copy_disks(source: VirtualMachine, target: VirtualMachine) -> None:
    for mine, theirs in zip(source.disks, target.disks, strict=True):
        if not mine.excluded:
            theirs.load(mine.blocks)


def suspend_task(rel: Relationship, now: float) -> None:
    task = rel.task
    if task is not None and task.finishes_at is not None:
        task.remaining = max(task.finishes_at - now, 0.0)
        task.finishes_at = None


def resume_task(b: LabBackend, rel: Relationship, now: float) -> None:
    task = rel.task
    if task is not None and task.finishes_at is None:
        task.starts_at = now
        b.schedule(now, "task_start", rel, task)
