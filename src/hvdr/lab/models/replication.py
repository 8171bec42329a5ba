"""One side of a Hyper-V Replica relationship: settings, state, change log, statistics, health.

Each VM copy carries its own :class:`Relationship` (a primary's and its replica's are two objects on two
hosts), as Hyper-V does. States are kept as PowerShell's ``VMReplicationState`` names (the WMI → PowerShell
mapping of reference §2.3 is applied where a transition happens). Cross-host work (cycles, failover,
reverse) lives in ``engine``, ``protection`` and ``failover``.

Health (reference §2.5), evaluated when asked:

- Primary: *Critical* when resynchronization is required, the relationship is in Error, or the last attempt
  to send failed (replica unreachable, site partition, storage); *Warning* when initial replication is not
  complete, replication is paused (Suspended), a failover was prepared but not reversed, more than 20% of
  this monitoring interval's cycles were missed, the last successful replication is over an hour old, or the
  average latency exceeds five minutes; otherwise *Normal*.
- Replica: *Critical* when paused on the replica (Suspended) or in Error; *Warning* while waiting for
  initial replication (including offline media), after a failover that was not reversed, when more than 20%
  of the expected cycles did not arrive, or when nothing arrived for over an hour; otherwise *Normal*.

Lab choices where the reference is silent: a network failure leaves the state Replicating (health Critical)
and Hyper-V retries every cycle; a full replica storage puts the relationship in Error (Resume after the
space is freed), as Hyper-V's "suspended replication … due to a non-recoverable failure" does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hvdr.lab.models import errors
from hvdr.lab.models.clock import to_datetime
from hvdr.lab.models.disks import ChangeLog, RecoveryHistory, RecoveryPoint
from hvdr.lab.models.enums import (
    ReplicationAuthenticationType,
    VMReplicationHealthState,
    VMReplicationMode,
    VMReplicationRelationshipType,
    VMReplicationState,
    VMReplicationType,
)
from hvdr.lab.models.objects import HV, ModelObject

if TYPE_CHECKING:
    from array import array

    from hvdr.lab.models.vms import VirtualMachine

S = VMReplicationState
HOUR = 3600.0


@dataclass
class ReplicationSettings:
    """What Enable-/Set-VMReplication set on a relationship."""

    replica_server: str
    replica_port: int = 80
    auth: ReplicationAuthenticationType = ReplicationAuthenticationType.Kerberos
    certificate_thumbprint: str | None = None
    frequency_sec: int = 300
    recovery_history: int = 0
    vss_frequency_hours: int = 0
    compression: bool = True
    replicate_host_kvp_items: bool = True
    bypass_proxy_server: bool = False
    auto_resynchronize: bool = False
    auto_resynchronize_start: timedelta = timedelta(hours=18, minutes=30)
    auto_resynchronize_end: timedelta = timedelta(hours=6)
    excluded_disk_paths: list[str] = field(default_factory=list)
    allowed_primary_server: str | None = None


@dataclass
class ReplicationStats:
    """Measure-VMReplication's counters for the current monitoring interval."""

    window_start: float
    successful: int = 0
    missed: int = 0
    errors: int = 0
    total_bytes: int = 0
    max_bytes: int = 0
    latency_sum: float = 0.0
    latency_max: float = 0.0

    def reset(self, now: float) -> None:
        self.window_start = now
        self.successful = self.missed = self.errors = self.total_bytes = self.max_bytes = 0
        self.latency_sum = self.latency_max = 0.0

    def success(self, nbytes: int, latency: float) -> None:
        self.successful += 1
        self.total_bytes += nbytes
        self.max_bytes = max(self.max_bytes, nbytes)
        self.latency_sum += latency
        self.latency_max = max(self.latency_max, latency)

    def miss(self) -> None:
        self.missed += 1
        self.errors += 1

    @property
    def average_latency(self) -> float | None:
        return self.latency_sum / self.successful if self.successful else None


@dataclass
class Task:
    """Work in flight on a primary: initial replication or resynchronization."""

    kind: str  # "initial" | "resync"
    starts_at: float
    finishes_at: float | None = None
    remaining: float | None = None
    """Seconds of work left (a suspended resynchronization keeps it)."""


class Relationship:
    """The replication relationship as seen on one host."""

    def __init__(
        self,
        vm: VirtualMachine,
        mode: VMReplicationMode,
        state: VMReplicationState,
        settings: ReplicationSettings,
        *,
        primary_server: str,
        now: float,
    ) -> None:
        self.vm = vm
        self.mode = mode
        self.state = state
        self.settings = settings
        self.primary_server = primary_server
        self.log = ChangeLog.for_disks(len(vm.disks))
        self.tracking = mode is VMReplicationMode.Primary
        self.history = RecoveryHistory()
        self.stats = ReplicationStats(window_start=now)
        self.created = now
        self.last_replication_time: float | None = None
        self.last_applied_log_time: float | None = None
        self.last_replication_type = VMReplicationType.None_
        self.failed_over_type = VMReplicationType.None_
        self.initial_replication_size = 0
        self.initial_replication_start: float | None = None
        self.resynchronize_start: float | None = None
        self.last_error: str | None = None
        self.resync_required = False
        self.task: Task | None = None
        self.next_cycle_at: float | None = None
        self.last_point_at: float | None = None
        self.last_app_point_at: float | None = None
        self.last_vss_time: float | None = None
        self.failover_stash: list[array[int]] | None = None
        self.failed_over_to: RecoveryPoint | None = None
        self.test_vm: VirtualMachine | None = None
        self.synced_for_failover = False
        """Replica side: the primary prepared a planned failover and the final changes arrived."""
        self.offline_media: str | None = None
        self.last_failover_time: float | None = None
        self.last_test_failover_time: float | None = None

    # -- guards (reference §3.5) ---------------------------------------------------------------------------

    @property
    def vm_name(self) -> str:
        return self.vm.name

    def require_state(self, action: str, *states: VMReplicationState) -> None:
        if self.state not in states:
            raise errors.invalid_replication_state(self.vm_name, self.state.name, action)

    def require_mode(self, cmdlet: str, *modes: VMReplicationMode) -> None:
        if self.mode not in modes:
            raise errors.not_applicable(cmdlet, self.vm_name, self.mode.name)

    # -- statistics and health -----------------------------------------------------------------------------

    def roll_window(self, now: float, interval: float) -> None:
        if interval > 0 and now - self.stats.window_start >= interval:
            elapsed = now - self.stats.window_start
            self.stats.reset(self.stats.window_start + interval * int(elapsed // interval))

    def expected_cycles(self, now: float) -> int:
        start = max(self.stats.window_start, self.last_applied_log_time or self.created)
        first = self.stats.window_start if self.stats.successful else start
        return int(max(0.0, now - first) // self.settings.frequency_sec)

    def missed_cycles(self, now: float) -> int:
        if self.mode is VMReplicationMode.Primary:
            return self.stats.missed
        if self.state is not S.Replicating:
            return 0
        return max(0, self.expected_cycles(now) - self.stats.successful)

    def pending_bytes(self) -> int:
        return self.log.size_bytes if self.mode is VMReplicationMode.Primary and self.tracking else 0

    def health_details(self, now: float) -> list[str]:
        """Why the health is not Normal, in Hyper-V's words (empty when Normal)."""
        name = self.vm_name
        details: list[str] = []
        if self.mode is VMReplicationMode.None_:
            return details
        if self.resync_required or self.state is S.WaitingForStartResynchronize:
            details.append(
                f"Resynchronization is required for the virtual machine '{name}'. Resume replication to start "
                "resynchronization."
            )
        if self.state is S.Error:
            details.append(
                f"Replication for virtual machine '{name}' is in error. Fix the error(s) and resume replication."
            )
        if self.last_error and self.state is not S.Error:
            details.append(self.last_error)
        if self.state is S.Suspended:
            where = "primary" if self.mode is VMReplicationMode.Primary else "Replica"
            details.append(f"Replication is paused for the {where} virtual machine '{name}'.")
        if self.state in (S.ReadyForInitialReplication, S.InitialReplicationInProgress, S.WaitingForInitialReplication):
            details.append(f"Initial replication is not complete for virtual machine '{name}'.")
        if self.state in (S.PreparedForFailover, S.FailedOverWaitingCompletion, S.FailedOver):
            details.append(
                f"Failover was initiated for virtual machine '{name}' but reverse replication has not been started."
            )
        if self.state is S.Replicating:
            expected = self.stats.successful + self.missed_cycles(now)
            if expected and self.missed_cycles(now) / expected > 0.2:
                details.append(
                    f"More than 20 percent of replication cycles have been missed for virtual machine '{name}'."
                )
            if self.last_replication_time is not None and now - self.last_replication_time > HOUR:
                details.append(f"Replica virtual machine '{name}' is behind the primary by more than an hour.")
            average = self.stats.average_latency
            if average is not None and average > 300:
                details.append(f"The average replication latency for virtual machine '{name}' exceeds 5 minutes.")
        return details

    def health(self, now: float) -> VMReplicationHealthState:
        if self.mode is VMReplicationMode.None_:
            return VMReplicationHealthState.NotApplicable
        if self.state is S.Error or self.resync_required or self.state is S.WaitingForStartResynchronize:
            return VMReplicationHealthState.Critical
        if self.mode is VMReplicationMode.Primary and self.last_error:
            return VMReplicationHealthState.Critical
        if self.mode is not VMReplicationMode.Primary and self.state is S.Suspended:
            return VMReplicationHealthState.Critical
        return VMReplicationHealthState.Warning if self.health_details(now) else VMReplicationHealthState.Normal

    # -- pipeline objects ---------------------------------------------------------------------------------

    def _base_properties(self, now: float) -> dict[str, Any]:
        s = self.settings
        vm = self.vm
        replicated = [d.path for d in vm.disks if d.path not in s.excluded_disk_paths]
        return {
            "VMName": vm.name,
            "VMId": vm.id,
            "State": self.state,
            "Health": self.health(now),
            "Mode": self.mode,
            "FrequencySec": s.frequency_sec,
            "PrimaryServer": self.primary_server,
            "ReplicaServer": s.replica_server,
            "ReplicaPort": s.replica_port,
            "AuthType": s.auth,
            "Relationship": VMReplicationRelationshipType.Simple,
            "ReplicationState": self.state,
            "ReplicationHealth": self.health(now),
            "ReplicationMode": self.mode,
            "ReplicationRelationshipType": VMReplicationRelationshipType.Simple,
            "PrimaryServerName": self.primary_server,
            "ReplicaServerName": s.replica_server,
            "CurrentReplicaServerName": s.replica_server,
            "ReplicaServerPort": s.replica_port,
            "AuthenticationType": s.auth,
            "CertificateThumbprint": s.certificate_thumbprint,
            "ReplicationFrequencySec": s.frequency_sec,
            "RecoveryHistory": s.recovery_history,
            "VSSSnapshotFrequencyHour": s.vss_frequency_hours,
            "VSSSnapshotReplicationEnabled": s.vss_frequency_hours > 0,
            "CompressionEnabled": s.compression,
            "ReplicateHostKvpItems": s.replicate_host_kvp_items,
            "BypassProxyServer": s.bypass_proxy_server,
            "EnableWriteOrderPreservationAcrossDisks": True,
            "AutoResynchronizeEnabled": s.auto_resynchronize,
            "AutoResynchronizeIntervalStart": s.auto_resynchronize_start,
            "AutoResynchronizeIntervalEnd": s.auto_resynchronize_end,
            "AllowedPrimaryServer": s.allowed_primary_server,
            "ExcludedDisks": [p for p in s.excluded_disk_paths],
            "ReplicatedDisks": replicated,
            "InitialReplicationStartTime": _dt(self.initial_replication_start),
            "ResynchronizeStartTime": _dt(self.resynchronize_start),
            "LastReplicationTime": _dt(self.last_replication_time),
            "LastAppliedLogTime": _dt(self.last_applied_log_time),
            "TestVirtualMachine": self.test_vm.to_object(now) if self.test_vm else None,
            "VMSnapshotId": None,
            "VMSnapshotName": None,
            "ComputerName": vm.host.short_name,
            "IsDeleted": False,
        }

    def to_object(self, now: float) -> ModelObject:
        """Get-VMReplication's VMReplication."""
        return ModelObject(HV + "VMReplication", self._base_properties(now), ref=self)

    def health_object(self, now: float) -> ModelObject:
        """Measure-VMReplication's VMReplicationHealth."""
        stats = self.stats
        props = self._base_properties(now)
        average = stats.average_latency
        props.update(
            {
                "LReplTime": _dt(self.last_replication_time),
                "PReplSize(M)": round(self.pending_bytes() / 1024**2, 2),
                "AvgLatency": timedelta(seconds=round(average)) if average is not None else None,
                "AvgReplSize(M)": round(stats.total_bytes / stats.successful / 1024**2, 2) if stats.successful else 0.0,
                "CurrentTask": self._current_task(now),
                "MonitoringStartTime": to_datetime(stats.window_start),
                "MonitoringEndTime": to_datetime(now),
                "LastReplicationType": self.last_replication_type,
                "FailedOverReplicationType": self.failed_over_type,
                "LastTestFailoverInitiatedTime": _dt(self.last_test_failover_time),
                "LastVSSSnapshotTime": _dt(self.last_vss_time),
                "InitialReplicationSize": self.initial_replication_size,
                "PendingReplicationSize": self.pending_bytes(),
                "AverageReplicationSize": stats.total_bytes // stats.successful if stats.successful else 0,
                "MaximumReplicationSize": stats.max_bytes,
                "AverageReplicationLatency": timedelta(seconds=round(average)) if average is not None else None,
                "MaximumReplicationLatency": timedelta(seconds=round(stats.latency_max)) if stats.successful else None,
                "ReplicationErrors": stats.errors,
                "SuccessfulReplicationCount": stats.successful,
                "MissedReplicationCount": self.missed_cycles(now),
                "ReplicationHealthDetails": self.health_details(now),
            }
        )
        return ModelObject(HV + "VMReplicationHealth", props, ref=self)

    def _current_task(self, now: float) -> str | None:
        if self.task is None:
            return None
        if self.task.kind == "initial":
            return "Initial replication" if now >= self.task.starts_at else "Initial replication scheduled"
        return "Resynchronization"

    def snapshot_object(self, point: RecoveryPoint) -> ModelObject:
        vm = self.vm
        return ModelObject(
            HV + "VMSnapshot",
            {
                "Name": point.name,
                "Id": point.id,
                "VMName": vm.name,
                "VMId": vm.id,
                "SnapshotType": point.snapshot_type,
                "CreationTime": to_datetime(point.created),
                "ParentSnapshotId": None,
                "ParentSnapshotName": None,
                "IsReplicaSnapshot": True,
                "State": vm.state,
                "Path": vm.path,
                "ComputerName": vm.host.short_name,
                "IsDeleted": False,
            },
            ref=(self, point),
        )


def _dt(ts: float | None) -> Any:
    return to_datetime(ts) if ts is not None else None


def point_name(vm_name: str, kind: str, created: float) -> str:
    """Hyper-V's recovery-point name, e.g. ``db-01 - Standard Replica - (3/26/2026 - 12:02:16 PM)``."""
    moment = to_datetime(created)
    hour = moment.hour % 12 or 12
    suffix = "AM" if moment.hour < 12 else "PM"
    stamp = f"{moment.month}/{moment.day}/{moment.year} - {hour}:{moment.minute:02d}:{moment.second:02d} {suffix}"
    return f"{vm_name} - {kind} Replica - ({stamp})"


def new_point_id() -> uuid.UUID:
    return uuid.uuid4()
