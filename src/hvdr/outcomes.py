"""What ``hvdr.Client``'s by-name calls return: started runs, where a set of runs stands, per-VM outcomes.

These describe many VMs at once (a whole cloud, say) and come from Temporal's visibility — the search
attributes every run upserts — rather than from a query per run, so they stay cheap at a thousand VMs.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from hvdr.protection import Phase

SETTLED = frozenset({Phase.REPLICATING, Phase.FAILED, Phase.PAUSED, Phase.DISABLED})
"""Phases in which a run waits for nothing but time or an operator: ``wait_protected`` returns once every run
is in one of them."""

STARTING = "starting"
"""The phase of a run that visibility does not show yet, or that has not published a phase."""


class ProtectionRun(BaseModel):
    """One protection run that ``protect`` started, or found already running (it is left as it is)."""

    vm: str
    workflow_id: str
    run_id: str | None = None


class ProtectionProgress(BaseModel):
    """Where a set of protection runs stands now."""

    total: int
    phases: dict[str, int] = Field(default_factory=dict)
    """How many runs are in each phase (``starting`` while a run has not published one)."""
    replicating: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)
    """VM → why: the run's error for a run in the ``failed`` phase, or how its run ended."""
    pending: list[str] = Field(default_factory=list)
    """VMs whose runs have not settled yet (see :data:`SETTLED`)."""

    @property
    def settled(self) -> int:
        return self.total - len(self.pending)

    @property
    def done(self) -> bool:
        return not self.pending

    def summary(self) -> str:
        """One line: ``12 VM(s): 10 replicating, 1 failed, 1 initial_replication``."""
        counts = ", ".join(f"{n} {phase}" for phase, n in sorted(self.phases.items(), key=lambda kv: -kv[1]))
        return f"{self.total} VM(s): {counts or 'none'}"


class ProtectionRollout(BaseModel):
    """What ``protect`` did: the runs it started (or found), and where they stood when it returned."""

    runs: list[ProtectionRun]
    start_seconds: float
    """Wall time spent starting the runs."""
    progress: ProtectionProgress | None = None
    """Set when ``protect`` was asked to wait: every run settled."""


class CommandOutcome(BaseModel):
    """One VM's answer to a command (pause, resume, resync, policy, disable) sent to many VMs."""

    vm: str
    ok: bool
    phase: Phase | None = None
    """The run's phase after the command (None when it was refused or the VM is not protected)."""
    message: str
