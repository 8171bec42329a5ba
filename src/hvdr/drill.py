"""Drills: a recovery plan's scheduled proof that it recovers, and the evidence each drill leaves.

A drill (run id ``drill/<plan>-<scheduled time>`` when its schedule ``drill/<plan>`` fires) is a *test* failover
of every VM of the plan, group after group, each VM through the test failover run of issue #13 (a child
``testfailover/<vm>`` run: test VM on the test network, verified, removed, clean-up confirmed by reading the
replica host; production never touched). Its evidence, per VM: the measured RTO (test failover started → test VM
verified, in host time) against the plan's ``rto_target_s``; production's RPO at drill time and whether it stayed
within the policy's threshold throughout; checks passed; clean-up confirmed. The outcome is recorded in the
inventory's runs table (kind ``drill``), where ``hvdr check`` reads the plan's last successful drill.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from hvdr.payloads import Durable
from hvdr.testfailover import TestFailoverReport, TestFailoverSpec, TestStep

KIND = "drill"


def drill_schedule_id(plan: str) -> str:
    """One schedule per plan (the business key); its occurrences are ``drill/<plan>-<time>`` runs."""
    return f"{KIND}/{plan}"


class DrillInput(Durable):
    plan: str


class DrillVM(Durable):
    """What a drill tests of one VM: its test failover's spec, or why it cannot be tested now."""

    vm: str
    spec: TestFailoverSpec | None = None
    refused: str | None = None


class DrillGroup(Durable):
    name: str
    vms: list[DrillVM]


class DrillTarget(Durable):
    """The plan as the drill resolved it from the inventory and the protection runs when it started."""

    plan: str
    rto_target_s: int | None = None
    groups: list[DrillGroup]
    time_scale: float = 1.0


class DrillRecord(Durable):
    """The drill's line in the inventory's runs table (what ``hvdr check`` reads)."""

    workflow_id: str
    plan: str
    started_by: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    detail: str


class VMEvidence(Durable):
    """What the drill proved of one VM."""

    vm: str
    group: str
    outcome: str
    """succeeded: verified at the recovery site and cleaned up; failed; refused: not testable now."""
    test: TestFailoverReport | None = None
    rto_s: float | None = None
    """Host seconds from the test failover's start to the test VM verified."""
    rpo_at_drill_s: float | None = None
    """Production's RPO when the drill began for this VM (the first measurement, on the replica host)."""
    rpo_max_s: float | None = None
    rpo_threshold_s: float | None = None
    checks_passed: bool = False
    """The test VM started and verify passed (heartbeat, failover IP where declared)."""
    cleaned_up: bool = False
    error: str | None = None

    @property
    def rpo_unaffected(self) -> bool | None:
        """Production's RPO stayed within the policy's threshold throughout (None: no threshold or measurement)."""
        if self.test is None:
            return None
        return self.test.rpo.within_threshold


class DrillReport(Durable):
    """A drill's result (its ``report`` query answers the same so far): the evidence per VM and the outcome."""

    workflow_id: str
    plan: str
    kind: str = KIND
    outcome: str = "running"
    rto_target_s: int | None = None
    vms: list[VMEvidence] = Field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    recorded: bool = False
    """The outcome is in the inventory's runs table (``hvdr check`` sees it)."""
    time_scale: float = 1.0
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return bool(self.vms) and all(v.outcome == "succeeded" for v in self.vms)


def evidence(report: TestFailoverReport, group: str, time_scale: float) -> VMEvidence:
    """The evidence one finished test failover gives."""
    by_step = {s.step: s for s in report.steps}
    verify = by_step.get(TestStep.VERIFY)
    checks = verify is not None and verify.outcome == "done"
    rto = None
    if checks and verify is not None and verify.ended_at is not None and report.started_at is not None:
        rto = (verify.ended_at - report.started_at).total_seconds() * time_scale
    first = next((s.rpo_s for s in report.rpo.last if s.rpo_s is not None), None)
    ok = report.outcome == "succeeded" and checks and report.cleaned_up
    return VMEvidence(
        vm=report.vm,
        group=group,
        outcome="succeeded" if ok else "failed",
        test=report,
        rto_s=rto,
        rpo_at_drill_s=first,
        rpo_max_s=report.rpo.max_s,
        rpo_threshold_s=report.rpo.threshold_s,
        checks_passed=checks,
        cleaned_up=report.cleaned_up,
        error=report.error,
    )


class DrillSchedule(Durable):
    """One plan's drill schedule (``hvdr drill list``)."""

    schedule_id: str
    plan: str
    cron: list[str] = Field(default_factory=list)
    paused: bool = False
    note: str = ""
    next_runs: list[datetime] = Field(default_factory=list)
    recent_runs: list[str] = Field(default_factory=list)
    """Workflow ids of the latest drills it started, oldest first."""


def check_cron(cron: str) -> str:
    """A cron expression Temporal Schedules take: 5 fields (minute hour day month weekday), 6 (with year), 7 (with
    seconds first), or an ``@`` shorthand such as ``@daily``; raises ``ValueError`` with the fix."""
    text = " ".join(cron.split())
    fields = text.split(" ")
    if text.startswith("@") and len(fields) == 1:
        return text
    if len(fields) not in (5, 6, 7):
        raise ValueError(
            f"--cron {cron!r} has {len(fields)} field(s): write 5 — minute hour day-of-month month day-of-week, "
            'e.g. "0 3 * * 6" (Saturdays 03:00 UTC)'
        )
    return text
