"""Protection's shared vocabulary: what a protection run is asked to do, its state, and what it reports.

A protection run (workflow id ``protect/<vm>``, the VM name in lower case) owns one VM's replication from
enabling it to disabling it. Its whole state is one :class:`ProtectionState`, carried across continue-as-new,
so the run can be inspected (``hvdr status``), commanded (pause, resume, resync, change policy, disable) and
resumed after any crash from exactly where it was.

Everything here is a durable payload (:class:`hvdr.payloads.Durable`): the policy and replica-server
settings are protection's own copies, mapped from the topology by :meth:`ProtectionPolicy.of` and
:meth:`ReplicaServerSpec.of`. The decisions a run takes from a measurement (RPO, alerts, history, whether
and how to heal) are methods of the state, so they are tested without Temporal.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from hvdr.payloads import Durable
from hvdr.replication import ReplicationHealth, ReplicationState

PAYLOAD_VERSION = 2
"""Version 1: the payloads before protection had its own policy model (the topology's, embedded)."""
HISTORY_SAMPLES = 48
MAX_ALERTS_KEPT = 20
RESYNC_GRACE = timedelta(minutes=15)
"""A resynchronization sent (or scheduled by an operator) this long ago and still not started is re-sent."""


def protection_workflow_id(vm: str) -> str:
    """``protect/<vm>``: VM names are case-insensitive on Windows, so ``DB-01`` and ``db-01`` are one run."""
    return f"protect/{vm.lower()}"


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
    UNKNOWN = "unknown"
    """Only in a status row: the run published nothing readable (a run is never in this phase)."""


BRING_UP = (Phase.PREFLIGHT, Phase.ENABLING, Phase.INITIAL_REPLICATION)
MONITORED = (Phase.REPLICATING, Phase.PAUSED, Phase.RESYNCHRONIZING)


class AlertKind(StrEnum):
    RPO = "rpo"
    HEALTH = "health"
    MISSED_CYCLES = "missed_cycles"
    REPLICATION_ERROR = "replication_error"
    PREFLIGHT = "preflight"
    MONITORING = "monitoring"
    READINESS = "readiness"
    """A scheduled readiness check's finding about the VM or its hosts (``hvdr check schedule``), added by the
    client to the run's own alerts in ``hvdr status``; never held by the run."""


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class Endpoint(Durable):
    """One side of a replication relationship."""

    site: str
    host: str


class PolicyAuth(Durable):
    type: str = "kerberos"
    """``kerberos`` or ``certificate``."""
    port: int | None = None
    certificate_thumbprint: str | None = None

    @property
    def effective_port(self) -> int:
        return self.port or (80 if self.type == "kerberos" else 443)


class InitialCopy(Durable):
    method: str = "network_now"
    """``network_now``, ``scheduled`` (at ``at``) or ``offline`` (export to ``export_path``, import from
    ``import_path``)."""
    at: datetime | None = None
    export_path: str | None = None
    import_path: str | None = None


class ResyncWindow(Durable):
    """A daily window, host-local time (``start`` may be after ``end``: the window spans midnight)."""

    start: time
    end: time

    def next_start(self, now: datetime) -> datetime | None:
        """None when ``now`` is inside the window, else the window's next opening."""
        start = now.replace(hour=self.start.hour, minute=self.start.minute, second=0, microsecond=0)
        end = now.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        inside = start <= now < end if start <= end else (now >= start or now < end)
        if inside:
            return None
        return start if start > now else start + timedelta(days=1)


class ProtectionPolicy(Durable):
    """Protection's copy of a topology ``ReplicationPolicy``: what the run needs of it, nothing else."""

    name: str
    copy_frequency_s: int = 300
    recovery_point_hours: int = 0
    app_consistent_hours: int = 0
    compression: bool = True
    auth: PolicyAuth = Field(default_factory=PolicyAuth)
    initial_replication: InitialCopy = Field(default_factory=InitialCopy)
    delete_replica_on_disable: bool = False
    rpo_alert_threshold_s: int = 1800
    auto_heal: bool = True
    resync_window: ResyncWindow | None = None
    drill_max_age_days: int = 30
    """`hvdr check`: a recovery plan of this pairing needs a successful drill at most this many days old."""

    @classmethod
    def of(cls, policy: BaseModel) -> ProtectionPolicy:
        """From the topology's ``ReplicationPolicy`` (the one place that mapping is written)."""
        return cls.model_validate(policy.model_dump())


class ReplicaServerSpec(Durable):
    """Protection's copy of a replica host's declared ``replica_server`` settings."""

    enabled: bool = False
    authentication: str = "kerberos"
    kerberos_port: int = 80
    certificate_port: int = 443
    certificate_thumbprint: str | None = None
    allowed_from_any_server: bool = True
    default_storage_location: str | None = None

    @classmethod
    def of(cls, settings: BaseModel) -> ReplicaServerSpec:
        return cls.model_validate(settings.model_dump())


class ProtectionSpec(Durable):
    """What to protect and how: everything the run needs, resolved from the inventory when it starts."""

    vm: str
    primary: Endpoint
    replica: Endpoint
    primary_cloud: str | None = None
    recovery_cloud: str | None = None
    policy: ProtectionPolicy
    replica_server: ReplicaServerSpec | None = None
    """The replica host's declared Replica-server settings; when enabled, preflight makes the host match."""
    excluded_vhd_paths: list[str] = Field(default_factory=list)
    replicated_bytes: int = 0
    """The size of the disks that replicate (0 = unknown): preflight checks the replica storage has room."""
    time_scale: float = Field(1.0, gt=0)
    """Host seconds per real second: 1 for real hosts; the lab's speed for the lab (its clock runs faster)."""

    def host_seconds(self, seconds: float) -> timedelta:
        """A duration in host time, as the real time a workflow timer waits."""
        return timedelta(seconds=max(seconds / self.time_scale, 0.05))


class Alert(Durable):
    kind: AlertKind
    severity: Severity
    message: str
    raised_at: datetime
    cleared_at: datetime | None = None


class Sample(Durable):
    """One monitoring tick, kept in a short rolling history."""

    at: datetime
    state: ReplicationState
    health: ReplicationHealth
    rpo_s: float | None


class Reading(Durable):
    """One measurement of the VM's replication on its primary host (Measure-VMReplication)."""

    state: ReplicationState
    health: ReplicationHealth
    health_details: list[str] = Field(default_factory=list)
    last_replication: datetime | None = None
    missed_cycles: int = 0
    host_time: datetime
    """The host's clock when it measured: RPO is host time minus last replication, immune to clock skew."""


class Wake(Durable):
    """What a host monitor tells a VM's run (signal ``monitor_wake``): a reading that needs deciding, the VM
    missing from the host's report (``reading`` None), or why the host could not be measured (``error``)."""

    host: str
    reading: Reading | None = None
    error: str | None = None


class HealAction(StrEnum):
    RESUME = "resume"
    RESYNC = "resync"


class Heal(BaseModel):
    """What auto-heal will do about a reading, and the alert that says so."""

    action: HealAction
    start_at: datetime | None = None
    reason: str


class ProtectionState(Durable):
    """Everything a protection run knows; the single argument of continue-as-new."""

    version: int = 1
    spec: ProtectionSpec
    phase: Phase = Phase.PREFLIGHT
    replication_state: ReplicationState | None = None
    health: ReplicationHealth | None = None
    last_replication: datetime | None = None
    rpo_s: float | None = None
    initial_progress: float | None = None
    """Fraction of the initial copy sent, 0–1, while it runs."""
    initial_copy_started: bool = False
    initial_copy_imported: bool = False
    alerts: list[Alert] = Field(default_factory=list)
    history: list[Sample] = Field(default_factory=list)
    ticks: int = 0
    resyncs: int = 0
    heals: int = 0
    missed_cycles: int = 0
    error: str | None = None
    paused_by_operator: bool = False
    resync_scheduled_at: datetime | None = None
    """When a resynchronization sent by an operator or by auto-heal starts; heal sends no other before then."""
    failover_operation: str | None = None
    continued: int = 0
    updated_at: datetime | None = None
    watching: str | None = None
    """The registration this run sent to its primary host's monitor (a ``Watch`` as JSON); None = not
    registered. Runs of the code before the monitor tick themselves and never set it."""
    watched_at: datetime | None = None
    watched_since: datetime | None = None
    """When the run joined its current monitor."""
    """When the run last registered with its monitor (it does again ``REWATCH_S`` host seconds later)."""

    def open_alerts(self) -> list[Alert]:
        return [a for a in self.alerts if a.cleared_at is None]

    def raise_alert(self, kind: AlertKind, severity: Severity, message: str, now: datetime) -> bool:
        """Open (or update) the alert of this kind; True when it is new."""
        for alert in self.open_alerts():
            if alert.kind == kind:
                alert.message, alert.severity = message, severity
                return False
        kept = [a for a in self.alerts if a.cleared_at is None or a.kind != kind][-(MAX_ALERTS_KEPT - 1) :]
        self.alerts = [*kept, Alert(kind=kind, severity=severity, message=message, raised_at=now)]
        return True

    def clear_alert(self, kind: AlertKind, now: datetime) -> bool:
        """Close the open alert of this kind; True when there was one."""
        cleared = False
        for alert in self.open_alerts():
            if alert.kind == kind:
                alert.cleared_at, cleared = now, True
        return cleared

    def clear_all_alerts(self, now: datetime) -> None:
        for alert in self.open_alerts():
            alert.cleared_at = now

    def take(self, reading: Reading, now: datetime) -> None:
        """Record a measurement: state, RPO, history, and the alerts it raises or clears."""
        self.updated_at = now
        self.replication_state, self.health = reading.state, reading.health
        self.last_replication = reading.last_replication
        self.rpo_s = (
            round((reading.host_time - reading.last_replication).total_seconds(), 1)
            if reading.last_replication
            else None
        )
        sample = Sample(at=now, state=reading.state, health=reading.health, rpo_s=self.rpo_s)
        self.history = [*self.history, sample][-HISTORY_SAMPLES:]
        if reading.state in (ReplicationState.REPLICATING, ReplicationState.RESYNCHRONIZING):
            self.resync_scheduled_at = None  # it started
        self._rpo_alert(now)
        self._health_alert(reading, now)
        if reading.missed_cycles > self.missed_cycles:
            missed = reading.missed_cycles - self.missed_cycles
            self.raise_alert(AlertKind.MISSED_CYCLES, Severity.WARNING, f"{missed} replication cycle(s) missed", now)
        else:
            self.clear_alert(AlertKind.MISSED_CYCLES, now)
        self.missed_cycles = reading.missed_cycles
        self._follow_resync(reading.state)

    def _rpo_alert(self, now: datetime) -> None:
        threshold = self.spec.policy.rpo_alert_threshold_s
        if self.rpo_s is None:
            return
        if self.rpo_s > threshold:
            severity = Severity.CRITICAL if self.rpo_s > 2 * threshold else Severity.WARNING
            self.raise_alert(AlertKind.RPO, severity, f"RPO {self.rpo_s:.0f} s is over the policy's {threshold} s", now)
        else:
            self.clear_alert(AlertKind.RPO, now)

    def _health_alert(self, reading: Reading, now: datetime) -> None:
        if reading.health is ReplicationHealth.NORMAL:
            self.clear_alert(AlertKind.HEALTH, now)
        elif reading.health in (ReplicationHealth.WARNING, ReplicationHealth.CRITICAL):
            detail = "; ".join(reading.health_details) or f"replication health is {reading.health.value}"
            critical = reading.health is ReplicationHealth.CRITICAL
            self.raise_alert(AlertKind.HEALTH, Severity.CRITICAL if critical else Severity.WARNING, detail, now)

    def _follow_resync(self, state: ReplicationState) -> None:
        if self.phase is Phase.RESYNCHRONIZING and state is ReplicationState.REPLICATING:
            self.resyncs += 1
            self.phase = Phase.REPLICATING
        if state is ReplicationState.RESYNCHRONIZING and self.phase is Phase.REPLICATING:
            self.phase = Phase.RESYNCHRONIZING

    def heal(self, now: datetime) -> Heal | None:
        """What auto-heal should do now, given the last reading; None = nothing.

        Operator intent wins: a paused VM is left alone, and a resynchronization that an operator (or an
        earlier heal) scheduled is not sent again before its start time has passed by ``RESYNC_GRACE``.
        """
        state = self.replication_state
        if self.phase is not Phase.REPLICATING and self.phase is not Phase.RESYNCHRONIZING:
            return None
        if not self.spec.policy.auto_heal or state is None:
            return None
        if state in (ReplicationState.SUSPENDED, ReplicationState.ERROR):
            return Heal(action=HealAction.RESUME, reason=f"replication is {state.value}; resuming it")
        if state is ReplicationState.WAITING_FOR_START_RESYNCHRONIZE:
            if self.resync_scheduled_at is not None and now < self.resync_scheduled_at + RESYNC_GRACE:
                return None
            window = self.spec.policy.resync_window
            start = window.next_start(now) if window is not None else None
            return Heal(action=HealAction.RESYNC, start_at=start, reason="resynchronization is required")
        return None

    def status_key(self) -> tuple[object, ...]:
        """What ``hvdr status`` shows, coarsened so steady replication does not change it every tick: the RPO
        counts in whole copy intervals, the initial copy in whole percent."""
        frequency = max(self.spec.policy.copy_frequency_s, 1)
        return (
            self.phase,
            self.replication_state,
            self.health,
            None if self.rpo_s is None else int(self.rpo_s // frequency),
            None if self.initial_progress is None else int(self.initial_progress * 100),
            tuple((a.kind, a.severity, a.message) for a in self.open_alerts()),
            self.error,
            self.spec.primary.host,
            self.spec.replica.host,
            self.spec.policy.name,
        )


class ProtectionStatus(Durable):
    """One row of ``hvdr status``."""

    vm: str
    phase: Phase
    primary_site: str = ""
    primary_host: str = ""
    replica_site: str = ""
    replica_host: str = ""
    direction: str = ""
    replication_state: ReplicationState | None = None
    health: ReplicationHealth | None = None
    rpo_s: float | None = None
    last_replication: datetime | None = None
    initial_progress: float | None = None
    policy: str = ""
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

    @classmethod
    def unknown(cls, vm: str, workflow_id: str, reason: str) -> ProtectionStatus:
        """A row for a run whose status could not be read: shown, never dropped."""
        return cls(vm=vm, phase=Phase.UNKNOWN, workflow_id=workflow_id, error=reason)


class ProtectionInput(Durable):
    """The run's argument: a spec for a new run, or the state a continued run carries on with."""

    version: int = 1
    state: ProtectionState
    ticks_per_run: int = Field(500, ge=1)
    """Continue-as-new after this many monitoring ticks even if Temporal has not suggested it yet."""
    wake: Wake | None = None
    """A wake of the host monitor that arrived while the previous run continued-as-new: decided first."""

    @classmethod
    def new(cls, spec: ProtectionSpec) -> ProtectionInput:
        return cls(version=PAYLOAD_VERSION, state=ProtectionState(version=PAYLOAD_VERSION, spec=spec))


class PolicyChange(Durable):
    policy: ProtectionPolicy


class ResyncRequest(Durable):
    start_at: datetime | None = None
    """Start later (within 7 days), as Resume-VMReplication -ResynchronizeStartTime; None = now."""


class DisableRequest(Durable):
    delete_replica: bool | None = None
    """Delete the replica VM; None = as the policy says."""


class FailoverBegin(Durable):
    operation: str


class FailoverEnd(Durable):
    operation: str
    primary: Endpoint | None = None
    """The new direction after a failover that reversed replication; None = unchanged."""
    replica: Endpoint | None = None
    replicating: bool = True


class CommandResult(Durable):
    vm: str
    phase: Phase
    message: str
