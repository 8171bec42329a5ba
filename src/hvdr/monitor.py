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

from datetime import UTC, datetime, timedelta

from pydantic import Field

from hvdr.payloads import Durable
from hvdr.protection import Reading
from hvdr.replication import ReplicationHealth, ReplicationState

MONITOR_VERSION = 1
RPO_BUCKET_S = 900
"""The RPO history keeps one figure per this many host seconds: the highest RPO measured in it."""
RPO_BUCKETS = 96
"""How many buckets a VM's RPO history keeps (96 × 15 min: the last 24 hours of host time), so a monitor's state
stays bounded however long it runs (about 600 bytes per VM)."""
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


class RpoSeries(Durable):
    """A VM's RPO history on its host: the peak RPO per ``bucket_s`` of host time, oldest first, contiguous from
    bucket ``start`` (host seconds since the epoch // ``bucket_s``); None where nothing was measured."""

    bucket_s: int = RPO_BUCKET_S
    start: int = 0
    peaks: list[float | None] = Field(default_factory=list)

    def add(self, host_time: datetime, rpo_s: float, keep: int = RPO_BUCKETS) -> None:
        index = int(host_time.timestamp() // self.bucket_s)
        if not self.peaks:
            self.start = index
        position = index - self.start
        if position < 0:
            return  # older than what is kept (a host clock set back): the history goes forward only
        if position >= len(self.peaks):
            self.peaks += [None] * (position + 1 - len(self.peaks))
        current = self.peaks[position]
        self.peaks[position] = rpo_s if current is None else max(current, rpo_s)
        if len(self.peaks) > keep:
            drop = len(self.peaks) - keep
            self.peaks, self.start = self.peaks[drop:], self.start + drop

    def points(self) -> list[tuple[datetime, float]]:
        """(bucket start in host time, peak RPO) for every bucket with a measurement."""
        return [
            (datetime.fromtimestamp((self.start + i) * self.bucket_s, UTC), peak)
            for i, peak in enumerate(self.peaks)
            if peak is not None
        ]


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
    rpo_history: dict[str, RpoSeries] = Field(default_factory=dict)
    """By VM name in lower case: each watched VM's RPO history (query ``rpo_history``), bounded by
    ``RPO_BUCKETS``; a VM leaving the monitor takes its history with it."""

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
            self.rpo_history.pop(key, None)
        return gone

    def unwatch(self, vm: str) -> None:
        self.members.pop(vm.lower(), None)
        self.rpo_history.pop(vm.lower(), None)

    def record_rpo(self, key: str, reading: Reading) -> None:
        rpo = rpo_of(reading)
        if rpo is not None:
            self.rpo_history.setdefault(key, RpoSeries()).add(reading.host_time, rpo)


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
