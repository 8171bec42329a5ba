"""The host monitor's vocabulary: one run per primary host (``monitor/<host>``) watches every protected VM of
that host, so steady-state protection costs per host, not per VM.

Each tick the monitor measures all its VMs in one host call (Measure-VMReplication) and publishes what it read
— state, health, live RPO per VM — in its ``live`` memo, which ``hvdr status`` reads. It wakes a VM's protection
run (signal ``monitor_wake`` carrying a :class:`~hvdr.protection.Wake`) only when something needs deciding:
what :func:`verdict` digests changed (state, health, its details, a missed cycle, the RPO crossing the policy's
threshold, a measurement failing or recovering), or, every tick, while a decision may come later (replication
suspended, in error or waiting for a resynchronization; the RPO over its threshold). A VM's run registers itself
(:class:`Watch`, signal-with-start, so a missing monitor is created) when it starts monitoring or when what the
monitor must know changes, and unregisters when it stops. The decisions (alerts, healing, operator intent) stay
with the VM's run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from hvdr.payloads import Durable
from hvdr.protection import Reading
from hvdr.replication import ReplicationHealth, ReplicationState

MONITOR_VERSION = 1
REWATCH_S = 6 * 3600
"""Host seconds between a run's registrations: a run re-registers this often (starting a monitor that vanished),
and a monitor drops a VM not registered again within three times that (its run ended without leaving)."""
WAKE_EVERY_TICK = {
    ReplicationState.SUSPENDED,
    ReplicationState.ERROR,
    ReplicationState.WAITING_FOR_START_RESYNCHRONIZE,
}
"""States in which the VM's run may decide something at a later tick though nothing changed (heal with capped
retries, a resynchronization whose scheduled start has passed): the monitor wakes it every tick."""


def monitor_workflow_id(host: str) -> str:
    """``monitor/<host>``: host names are case-insensitive, so ``HV-A1`` and ``hv-a1`` share one monitor."""
    return f"monitor/{host.lower()}"


class Watch(Durable):
    """A VM's registration with its primary host's monitor: what the monitor needs to know of it."""

    vm: str
    workflow_id: str = ""
    site: str
    host: str
    frequency_s: int = 300
    rpo_alert_threshold_s: int = 1800
    time_scale: float = Field(1.0, gt=0)
    quiet: bool = False
    """Paused by the operator: woken when something changes, not every tick for its suspended state."""
    since: datetime | None = None
    """When the run joined this monitor: a new run of the same VM (re-protected) is new to the monitor, so its
    first tick wakes it, whatever the previous run was last told."""


class Unwatch(Durable):
    vm: str


class Member(Durable):
    watch: Watch
    seen_at: datetime | None = None
    """When the run last registered (workflow time)."""
    digest: str | None = None
    """The :func:`verdict` last sent to the VM's run (None: nothing sent yet, so the next tick wakes it)."""
    missed_cycles: int = 0


class LiveRow(Durable):
    """One VM as the monitor last read it: what ``hvdr status`` shows between the run's own updates."""

    replication_state: ReplicationState | None = None
    health: ReplicationHealth | None = None
    rpo_s: float | None = None
    last_replication: datetime | None = None


class HostLive(Durable):
    """The monitor's ``live`` memo: its last measurement of every watched VM."""

    host: str
    measured_at: datetime | None = None
    error: str | None = None
    """Why the last measurement failed (rows then keep the last values read)."""
    rows: dict[str, LiveRow] = Field(default_factory=dict)
    """By VM name in lower case; a watched VM the host did not report has an empty row."""


class MonitorState(Durable):
    version: int = MONITOR_VERSION
    host: str
    site: str
    members: dict[str, Member] = Field(default_factory=dict)
    """By VM name in lower case."""
    ticks: int = 0
    wakes: int = 0
    continued: int = 0
    live: HostLive | None = None

    def interval(self) -> timedelta:
        """The shortest copy frequency among the members, as the real time a workflow timer waits."""
        if not self.members:
            return timedelta(seconds=60)
        return min(
            timedelta(seconds=max(m.watch.frequency_s / m.watch.time_scale, 0.05)) for m in self.members.values()
        )

    def watch(self, watch: Watch, now: datetime) -> None:
        """Add a VM, or update what the monitor knows of it (a changed registration wakes the run again)."""
        key = watch.vm.lower()
        current = self.members.get(key)
        if current is None or current.watch != watch:
            current = self.members[key] = Member(watch=watch, missed_cycles=current.missed_cycles if current else 0)
        current.seen_at = now

    def forget_silent(self, now: datetime) -> list[str]:
        """Drop the VMs whose runs have not registered for three registration periods; their names."""
        gone = [
            key
            for key, m in self.members.items()
            if m.seen_at is not None and now - m.seen_at > timedelta(seconds=3 * REWATCH_S / m.watch.time_scale)
        ]
        for key in gone:
            del self.members[key]
        return gone

    def unwatch(self, vm: str) -> None:
        self.members.pop(vm.lower(), None)


class MonitorInput(Durable):
    version: int = MONITOR_VERSION
    state: MonitorState
    ticks_per_run: int = Field(200, ge=1)
    """Continue-as-new after this many ticks even if Temporal has not suggested it (each tick's measurement and
    memo carry every VM of the host)."""

    @classmethod
    def new(cls, host: str, site: str) -> MonitorInput:
        return cls(state=MonitorState(host=host, site=site))


def rpo_of(reading: Reading) -> float | None:
    if reading.last_replication is None:
        return None
    return round((reading.host_time - reading.last_replication).total_seconds(), 1)


def verdict(member: Member, reading: Reading | None, error: str | None) -> tuple[str, bool]:
    """(digest, every_tick): the run is woken when the digest differs from the last one sent, or every tick."""
    if error is not None:
        return f"error:{error}", False
    if reading is None:
        return "absent", False
    watch = member.watch
    rpo = rpo_of(reading)
    threshold = watch.rpo_alert_threshold_s
    rpo_level = 0 if rpo is None or rpo <= threshold else (1 if rpo <= 2 * threshold else 2)
    rising = reading.missed_cycles > member.missed_cycles
    digest = "|".join(
        [
            reading.state.value,
            reading.health.value,
            ";".join(reading.health_details),
            f"missed+{int(rising)}",
            f"rpo{rpo_level}",
        ]
    )
    every_tick = rpo_level > 0 or (reading.state in WAKE_EVERY_TICK and not watch.quiet)
    return digest, every_tick
