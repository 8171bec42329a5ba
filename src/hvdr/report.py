"""The report of a run, whatever its kind: one timeline model that every operation converts to.

A single-VM failover (``FailoverReport``), a recovery plan or a drill each keep their own result model; for
``hvdr report`` they convert to a ``RunReport``: who started the run, per VM the steps with start, end, outcome
and message, what compensation did, approvals with who decided, the RTO per VM and for the run against the
plan's ``rto_target_s``, and the data loss with how it was established. The renderers
(:mod:`hvdr.report_render`) know only this model, so a new kind of run needs one converter, not new pages.

Definitions the report states on every page:

- **RTO of a VM**: from the moment its service went down (a planned failover's guest shutdown; the failure time
  of an unplanned one) to the end of the step that proved it running at the recovery site (verify).
- **RTO of the run**: from the run's first step to the last of its VMs verified; None while any VM is not.
- Times are the orchestrator's clock (wall seconds); with a time scale (the lab's clock runs N× faster) the
  host-time equivalent is wall × scale, and that is what is compared with the target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from hvdr.drill import DrillReport, VMEvidence
from hvdr.failover import FailoverReport, Step
from hvdr.payloads import Durable
from hvdr.plan import PlanReport, PlanVMReport
from hvdr.testfailover import TestFailoverReport, TestStep
from hvdr.topology import same_host
from hvdr.unplanned import UnplannedReport

Outcome = str
"""A step's outcome: running, done, failed, undone, skipped (plans add waiting, approved, rejected, timed_out)."""

PLANNED_ZERO_LOSS = (
    "planned failover: the source was shut down, then Start-VMFailover -Prepare sent every pending change before "
    "the replica failed over (Hyper-V refuses the failover of an unprepared replica), so no write was lost"
)


class ReportStep(Durable):
    """One bar of the timeline: a step of a VM's operation, or a plan action."""

    name: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: Outcome = "running"
    message: str = ""
    group: str | None = None
    """The plan group the step belongs to (None for a single-VM run)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


class ChecksumProof(Durable):
    """Disk contents compared at the failover: the source after its final sync and the replica it failed over to."""

    source_checksum: str
    replica_checksum: str
    blocks_lost: int | None = None
    measured_by: str
    """Where the checksums come from (e.g. the lab's control API, ``GET /vms`` ``disk_checksum``)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def equal(self) -> bool:
        return self.source_checksum == self.replica_checksum


class DataLoss(Durable):
    """What the failover lost and how that is known."""

    lost_s: float | None = None
    """Seconds of writes lost: 0 for a planned failover; recovery point → failure for an unplanned one; None
    when unknown or when nothing failed over."""
    recovery_point_at: datetime | None = None
    failure_at: datetime | None = None
    basis: str
    """How the figure was established, in a sentence an auditor can check."""
    checksums: ChecksumProof | None = None

    @classmethod
    def planned(cls, checksums: ChecksumProof | None = None) -> DataLoss:
        return cls(lost_s=0.0, basis=PLANNED_ZERO_LOSS, checksums=checksums)

    @classmethod
    def unplanned(cls, recovery_point_at: datetime, failure_at: datetime) -> DataLoss:
        """An unplanned failover loses the writes after the recovery point it started from."""
        return cls(
            lost_s=max(0.0, (failure_at - recovery_point_at).total_seconds()),
            recovery_point_at=recovery_point_at,
            failure_at=failure_at,
            basis="unplanned failover: writes after the chosen recovery point up to the failure are lost",
        )


class VMTimeline(Durable):
    """One VM's lane: its steps, outcome, RTO and data loss."""

    vm: str
    source: str | None = None
    """The host it ran on before the operation."""
    target: str | None = None
    now_runs_on: str | None = None
    outcome: str
    group: str | None = None
    steps: list[ReportStep] = Field(default_factory=list)
    compensation: list[str] = Field(default_factory=list)
    """What was undone, in order, each with why."""
    error: str | None = None
    down_at: datetime | None = None
    up_at: datetime | None = None
    """When it was verified running at the recovery site (None: it was not)."""
    data_loss: DataLoss | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rto_s(self) -> float | None:
        if self.down_at is None or self.up_at is None:
            return None
        return (self.up_at - self.down_at).total_seconds()


class Approval(Durable):
    """A manual step's decision: who, when, and what they decided."""

    step: str
    decision: Literal["approved", "rejected", "timed_out", "waiting"]
    by: str | None = None
    at: datetime | None = None
    comment: str = ""


class RunReport(Durable):
    """The report of one run (``hvdr report RUN``)."""

    run_id: str
    kind: str
    """failover, plan, drill…"""
    operation: str = ""
    """planned, unplanned, test (the failover kind)."""
    title: str
    plan: str | None = None
    started_by: str | None = None
    """The audit identity that started the run (``HVDR_IDENTITY``, else ``<OS user>@<host>``)."""
    status: str = "completed"
    """Temporal's status of the run: running, completed, failed, terminated…"""
    outcome: str
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    vms: list[VMTimeline] = Field(default_factory=list)
    actions: list[ReportStep] = Field(default_factory=list)
    """Plan actions (scripts, manual steps, delays) with their group."""
    approvals: list[Approval] = Field(default_factory=list)
    evidence_columns: list[str] = Field(default_factory=list)
    evidence: list[list[str]] = Field(default_factory=list)
    """What a drill proved, one row per VM (measured RTO against the target, RPO at drill time, checks passed,
    clean-up confirmed, production's RPO unaffected); empty for other runs."""
    rto_target_s: int | None = None
    """The plan's target (for a single-VM run: the target of the plan the VM belongs to, if any)."""
    rto_target_from: str | None = None
    """Where the target comes from, e.g. ``plan three-tier``."""
    time_scale: float = 1.0
    generated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rto_s(self) -> float | None:
        """The run's RTO in wall seconds: first step to the last VM verified (None unless every VM was)."""
        if not self.vms or self.started_at is None or any(v.up_at is None for v in self.vms):
            return None
        return (max(v.up_at for v in self.vms if v.up_at is not None) - self.started_at).total_seconds()

    def host_seconds(self, wall: float | None) -> float | None:
        return None if wall is None else wall * self.time_scale

    @computed_field  # type: ignore[prop-decorator]
    @property
    def met_target(self) -> bool | None:
        """Whether the run's RTO (host time) met the target: False once the run has ended with a VM not recovered;
        None without a target, or while it runs and not every VM is recovered yet."""
        rto = self.host_seconds(self.rto_s)
        if self.rto_target_s is None:
            return None
        if rto is None:
            return False if self.vms and self.outcome != "running" else None
        return rto <= self.rto_target_s

    def attach_checksums(self, failovers: list[dict[str, Any]], measured_by: str) -> int:
        """Add disk checksums measured at each VM's failover (the lab's ``GET /failovers`` rows: vm, source_host,
        replica_host, source_checksum, replica_checksum, blocks_lost) to its data loss; the latest row of the
        same VM and direction counts. Returns how many VMs got one."""
        attached = 0
        for vm in self.vms:
            rows = [
                row
                for row in failovers
                if str(row.get("vm", "")).lower() == vm.vm.lower()
                and _same_host(row.get("source_host"), vm.source)
                and _same_host(row.get("replica_host"), vm.target)
                and row.get("source_checksum")
            ]
            if vm.data_loss is None or not rows:
                continue
            row = rows[-1]
            vm.data_loss.checksums = ChecksumProof(
                source_checksum=str(row["source_checksum"]),
                replica_checksum=str(row["replica_checksum"]),
                blocks_lost=row.get("blocks_lost"),
                measured_by=measured_by,
            )
            attached += 1
        return attached

    def timeline(self) -> list[tuple[str, list[ReportStep]]]:
        """The chart's lanes, in order: each VM, then the plan's actions (if any)."""
        lanes = [(v.vm, v.steps) for v in self.vms]
        if self.actions:
            lanes.append(("plan actions", self.actions))
        return lanes


def _same_host(a: object, b: str | None) -> bool:
    """A row's host (any JSON value) is ``b``, by hvdr's one rule for host names."""
    return isinstance(a, str) and b is not None and same_host(a, b)


@dataclass(frozen=True)
class RunFacts:
    """What the report needs beyond the run's own result: read from Temporal and the inventory by the client."""

    status: str = "completed"
    started_by: str | None = None
    rto_target_s: int | None = None
    rto_target_from: str | None = None
    generated_at: datetime | None = None
    """When the report is built (a running step's bar ends there); default: the run's end."""


def vm_timeline(report: FailoverReport, group: str | None = None) -> VMTimeline:
    """One VM's lane from its failover report (a single-VM run, or one VM of a plan's group)."""
    steps = [
        ReportStep(
            name=s.step.value,
            started_at=s.started_at,
            ended_at=s.ended_at,
            outcome=s.outcome,
            message=s.detail,
            group=group,
        )
        for s in report.steps
    ]
    by_step = {s.step: s for s in report.steps}
    first_down = next((s for s in report.steps if s.step is not Step.PREFLIGHT), None)
    verify = by_step.get(Step.VERIFY)
    moved = report.outcome == "succeeded"
    data_loss: DataLoss | None = None  # other kinds: their converter knows the recovery point and failure time
    if report.kind == "planned":
        data_loss = (
            DataLoss.planned()
            if Step.FAILOVER in by_step
            else DataLoss(lost_s=0.0, basis="nothing failed over: the source kept running its own disks")
        )
    return VMTimeline(
        vm=report.vm,
        source=report.source.host,
        target=report.target.host,
        now_runs_on=report.now_runs_on.host,
        outcome=report.outcome,
        group=group,
        steps=steps,
        compensation=report.undone,
        error=report.error,
        down_at=first_down.started_at if first_down else None,
        up_at=verify.ended_at if verify is not None and moved and verify.outcome == "done" else None,
        data_loss=data_loss,
    )


def from_failover(report: FailoverReport, facts: RunFacts) -> RunReport:
    """A single-VM failover's report as a run report."""
    vm = vm_timeline(report)
    now = facts.generated_at or report.ended_at or report.started_at or datetime.now(UTC)
    return RunReport(
        run_id=report.workflow_id,
        kind="failover",
        operation=report.kind,
        title=f"{report.kind} failover of {report.vm}: {report.source.host} → {report.target.host}",
        started_by=facts.started_by,
        status=facts.status,
        outcome=report.outcome,
        error=report.error,
        started_at=report.started_at,
        ended_at=report.ended_at,
        vms=[vm],
        rto_target_s=facts.rto_target_s,
        rto_target_from=facts.rto_target_from,
        time_scale=report.time_scale,
        generated_at=now,
    )


@dataclass(frozen=True)
class ReportSource:
    """How to read a run of one workflow type: its result model (also its ``report`` query's) and the conversion
    to a run report."""

    result_type: type[BaseModel]
    convert: Callable[[Any, RunFacts], RunReport]
    query: str = "report"


def _planned_failover(result: Any, facts: RunFacts) -> RunReport:
    return from_failover(FailoverReport.model_validate(result), facts)


TEST_NO_LOSS = "test failover: production kept running and replicating; the test VM's writes are discarded"
EVIDENCE_COLUMNS = [
    "VM",
    "group",
    "outcome",
    "RTO (host s)",
    "RTO target (s)",
    "RPO at drill (s)",
    "checks passed",
    "clean-up confirmed",
    "production RPO unaffected",
]


def test_timeline(report: TestFailoverReport, group: str | None = None) -> VMTimeline:
    """One VM's lane from its test failover: down = the test's first step, up = its test VM verified."""
    verify = next((s for s in report.steps if s.step is TestStep.VERIFY and s.outcome == "done"), None)
    return VMTimeline(
        vm=report.vm,
        source=report.source.host,
        target=report.target.host,
        now_runs_on=report.source.host,
        outcome=report.outcome,
        group=group,
        steps=[
            ReportStep(
                name=s.step.value,
                started_at=s.started_at,
                ended_at=s.ended_at,
                outcome=s.outcome,
                message=s.detail,
                group=group,
            )
            for s in report.steps
        ],
        error=report.error,
        down_at=report.started_at,
        up_at=verify.ended_at if verify is not None else None,
        data_loss=DataLoss(lost_s=0.0, basis=TEST_NO_LOSS),
    )


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "not measured"}[value]


def _evidence_row(vm: VMEvidence, target: int | None) -> list[str]:
    def whole(value: float | None) -> str:
        return "—" if value is None else f"{value:.0f}"

    rpo = whole(vm.rpo_at_drill_s)
    if vm.rpo_max_s is not None:
        threshold = f", threshold {vm.rpo_threshold_s:.0f}" if vm.rpo_threshold_s is not None else ""
        rpo += f" (max {vm.rpo_max_s:.0f}{threshold})"
    met = "" if target is None or vm.rto_s is None else (" ✓" if vm.rto_s <= target else " ✗ over target")
    return [
        vm.vm,
        vm.group,
        vm.outcome,
        whole(vm.rto_s) + met,
        whole(target),
        rpo,
        _yes(vm.checks_passed),
        _yes(vm.cleaned_up),
        _yes(vm.rpo_unaffected),
    ]


def from_drill(report: DrillReport, facts: RunFacts) -> RunReport:
    """A drill's evidence as a run report: each VM's test failover as a lane, and the evidence table."""
    lanes = [
        test_timeline(v.test, v.group)
        if v.test is not None
        else VMTimeline(vm=v.vm, outcome=v.outcome, group=v.group, error=v.error)
        for v in report.vms
    ]
    now = facts.generated_at or report.ended_at or report.started_at or datetime.now(UTC)
    return RunReport(
        run_id=report.workflow_id,
        kind="drill",
        operation="test",
        title=f"drill of plan {report.plan}",
        plan=report.plan,
        started_by=facts.started_by,
        status=facts.status,
        outcome=report.outcome,
        error=report.error,
        started_at=report.started_at,
        ended_at=report.ended_at,
        vms=lanes,
        evidence_columns=EVIDENCE_COLUMNS,
        evidence=[_evidence_row(v, report.rto_target_s) for v in report.vms],
        rto_target_s=report.rto_target_s,
        rto_target_from=f"plan {report.plan}" if report.rto_target_s is not None else None,
        time_scale=report.time_scale,
        generated_at=now,
    )


def _drill(result: Any, facts: RunFacts) -> RunReport:
    return from_drill(DrillReport.model_validate(result), facts)


def _unplanned_failover(result: Any, facts: RunFacts) -> RunReport:
    unplanned = UnplannedReport.model_validate(result)
    report = from_failover(unplanned, facts)
    vm, point = report.vms[0], unplanned.recovery_point
    if point is not None and point.time is not None and unplanned.failed_over_at is not None:
        vm.data_loss = DataLoss.unplanned(point.time, unplanned.failed_over_at)
    verify = next((s for s in unplanned.steps if s.step is Step.VERIFY and s.outcome == "done"), None)
    if verify is not None and unplanned.outcome in ("waiting", "committed"):
        vm.up_at = verify.ended_at
    return report


def from_plan(report: PlanReport, facts: RunFacts) -> RunReport:
    """A recovery plan run as a run report: a lane per VM (its group's), the plan's actions, and each manual step's
    decision with who made it."""
    approvals = [
        Approval.model_validate(
            {
                "step": a.name,
                "decision": a.outcome,
                "by": a.decided_by,
                "at": a.decided_at,
                "comment": a.reason or ("" if a.outcome == "waiting" else a.detail),
            }
        )
        for a in report.actions
        if a.type == "manual" and a.outcome in ("approved", "rejected", "timed_out", "waiting")
    ]
    what = "failback" if report.failback else f"{report.kind} failover"
    now = facts.generated_at or report.ended_at or report.started_at or datetime.now(UTC)
    return RunReport(
        run_id=report.workflow_id,
        kind="plan",
        operation=report.kind,
        title=f"{'dry run of ' if report.dry_run else ''}{what} of plan {report.plan}",
        plan=report.plan,
        started_by=facts.started_by,
        status=facts.status,
        outcome=report.outcome,
        error=report.error,
        started_at=report.started_at,
        ended_at=report.ended_at,
        vms=[_plan_lane(report, vm) for vm in report.vms],
        actions=[
            ReportStep(
                name=a.name,
                started_at=a.started_at,
                ended_at=a.ended_at,
                outcome=a.outcome,
                message=a.detail,
                group=a.group,
            )
            for a in report.actions
        ],
        approvals=approvals,
        rto_target_s=round(report.rto_target_s) if report.rto_target_s is not None else None,
        rto_target_from=f"plan {report.plan}" if report.rto_target_s is not None else None,
        time_scale=report.time_scale,
        generated_at=now,
    )


def _plan_lane(report: PlanReport, vm: PlanVMReport) -> VMTimeline:
    steps = [
        ReportStep(
            name=b.step,
            started_at=b.started_at,
            ended_at=b.ended_at,
            outcome=b.outcome,
            message=b.detail,
            group=b.group,
        )
        for b in report.timeline
        if b.lane == vm.vm
    ]
    moved = vm.outcome == "succeeded" and not report.dry_run
    first_down = next((s for s in steps if s.name != Step.PREFLIGHT.value), None)
    verify = next((s for s in steps if s.name == Step.VERIFY.value and s.outcome == "done"), None)
    data_loss: DataLoss | None = None
    if report.kind == "planned" and not report.dry_run:
        data_loss = (
            DataLoss.planned()
            if any(s.name == Step.FAILOVER.value for s in steps)
            else DataLoss(lost_s=0.0, basis="nothing failed over: the source kept running its own disks")
        )
    return VMTimeline(
        vm=vm.vm,
        source=vm.source_host,
        target=vm.target_host,
        now_runs_on=vm.target_host if moved else vm.source_host,
        outcome=vm.outcome,
        group=vm.group,
        steps=steps,
        compensation=vm.undone,
        error=vm.error,
        down_at=first_down.started_at if first_down and not report.dry_run else None,
        up_at=verify.ended_at if verify is not None and moved else None,
        data_loss=data_loss,
    )


def _plan(result: Any, facts: RunFacts) -> RunReport:
    return from_plan(PlanReport.model_validate(result), facts)


REPORT_SOURCES: dict[str, ReportSource] = {
    "PlannedFailover": ReportSource(FailoverReport, _planned_failover),
    "Plan": ReportSource(PlanReport, _plan),
    "Drill": ReportSource(DrillReport, _drill),
    "UnplannedFailover": ReportSource(UnplannedReport, _unplanned_failover),
}
"""Workflow type → how its runs report. A new kind of run registers here (one line)."""
