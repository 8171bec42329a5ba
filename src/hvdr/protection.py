"""Protection's shared vocabulary: what a protection run is asked to do, its state, and what it reports.

A protection run (workflow id ``protect/<vm>``) owns one VM's replication from enabling it to disabling it.
Its whole state is one :class:`ProtectionState`, carried across continue-as-new, so the run can be
inspected (``hvdr status``), commanded (pause, resume, resync, change policy, disable) and resumed after any
crash from exactly where it was.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from hvdr.topology import ReplicaServerSettings, ReplicationPolicy


def protection_workflow_id(vm: str) -> str:
    return f"protect/{vm}"


class Phase(StrEnum):
    PREFLIGHT = "preflight"
    ENABLING = "enabling"
    INITIAL_REPLICATION = "initial_replication"
    REPLICATING = "replicating"
    PAUSED = "paused"
    RESYNCHRONIZING = "resynchronizing"
    FAILOVER = "failover"
    DISABLING = "disabling"
    DISABLED = "disabled"
    FAILED = "failed"


class Endpoint(BaseModel):
    """One side of a replication relationship."""

    site: str
    host: str


class ProtectionSpec(BaseModel):
    """What to protect and how: everything the run needs, resolved from the inventory when it starts."""

    vm: str
    primary: Endpoint
    replica: Endpoint
    primary_cloud: str | None = None
    recovery_cloud: str | None = None
    policy: ReplicationPolicy
    replica_server: ReplicaServerSettings | None = None
    """The replica host's declared Replica-server settings; when enabled, preflight makes the host match."""
    excluded_vhd_paths: list[str] = Field(default_factory=list)
    replicated_bytes: int = 0
    """The size of the disks that replicate (0 = unknown): preflight checks the replica storage has room."""
    time_scale: float = Field(1.0, gt=0)
    """Host seconds per real second: 1 for real hosts; the lab's speed for the lab (its clock runs faster)."""

    def host_seconds(self, seconds: float) -> timedelta:
        """A duration in host time, as the real time a workflow timer waits."""
        return timedelta(seconds=max(seconds / self.time_scale, 0.05))


class Alert(BaseModel):
    kind: str
    """``rpo``, ``health``, ``missed_cycles``, ``replication_error``, ``preflight``."""
    severity: str
    """``warning`` or ``critical``."""
    message: str
    raised_at: datetime
    cleared_at: datetime | None = None


class Sample(BaseModel):
    """One monitoring tick, kept in a short rolling history."""

    at: datetime
    state: str
    health: str
    rpo_s: float | None


class ProtectionState(BaseModel):
    """Everything a protection run knows; the single argument of continue-as-new."""

    spec: ProtectionSpec
    phase: Phase = Phase.PREFLIGHT
    replication_state: str | None = None
    health: str | None = None
    last_replication: datetime | None = None
    rpo_s: float | None = None
    initial_progress: float | None = None
    """Fraction of the initial copy sent, 0–1, while it runs."""
    alerts: list[Alert] = Field(default_factory=list)
    history: list[Sample] = Field(default_factory=list)
    ticks: int = 0
    resyncs: int = 0
    heals: int = 0
    missed_cycles: int = 0
    error: str | None = None
    paused_by_operator: bool = False
    failover_operation: str | None = None
    continued: int = 0
    updated_at: datetime | None = None

    def open_alerts(self) -> list[Alert]:
        return [a for a in self.alerts if a.cleared_at is None]


class ProtectionStatus(BaseModel):
    """One row of ``hvdr status``."""

    vm: str
    phase: Phase
    primary_site: str
    primary_host: str
    replica_site: str
    replica_host: str
    direction: str
    replication_state: str | None
    health: str | None
    rpo_s: float | None
    last_replication: datetime | None
    initial_progress: float | None = None
    policy: str
    open_alerts: list[Alert] = Field(default_factory=list)
    error: str | None = None
    workflow_id: str
    updated_at: datetime | None = None

    @classmethod
    def of(cls, state: ProtectionState) -> ProtectionStatus:
        spec = state.spec
        return cls(
            vm=spec.vm,
            phase=state.phase,
            primary_site=spec.primary.site,
            primary_host=spec.primary.host,
            replica_site=spec.replica.site,
            replica_host=spec.replica.host,
            direction=f"{spec.primary.site} → {spec.replica.site}",
            replication_state=state.replication_state,
            health=state.health,
            rpo_s=state.rpo_s,
            last_replication=state.last_replication,
            initial_progress=state.initial_progress,
            policy=spec.policy.name,
            open_alerts=state.open_alerts(),
            error=state.error,
            workflow_id=protection_workflow_id(spec.vm),
            updated_at=state.updated_at,
        )


class ProtectionInput(BaseModel):
    """The run's argument: a spec for a new run, or the state a continued run carries on with."""

    state: ProtectionState


class PolicyChange(BaseModel):
    policy: ReplicationPolicy


class ResyncRequest(BaseModel):
    start_at: datetime | None = None
    """Start later (within 7 days), as Resume-VMReplication -ResynchronizeStartTime; None = now."""


class DisableRequest(BaseModel):
    delete_replica: bool | None = None
    """Delete the replica VM; None = as the policy says."""


class FailoverBegin(BaseModel):
    operation: str


class FailoverEnd(BaseModel):
    operation: str
    primary: Endpoint | None = None
    """The new direction after a failover that reversed replication; None = unchanged."""
    replica: Endpoint | None = None
    replicating: bool = True


class CommandResult(BaseModel):
    vm: str
    phase: Phase
    message: str
