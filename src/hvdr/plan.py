"""Recovery plans run: what a plan run is asked to do, what it knows, and the report it ends with.

A plan run (id ``plan/<plan>/<n>``) takes the plan's groups in order; the VMs of a group go in parallel, each
through the single-VM operation of the run's kind (:class:`hvdr.workflows.failover.FailoverSequence` for
planned) with everything that operation guarantees. Host steps are batched per (host, step), so a thousand VMs
cost a few dozen host commands per step, not thousands of activities.

Failure semantics (``on_failure``): ``stop`` — the group of a failed VM finishes (one VM failing never stops
the others of its group), then the plan stops before the next group; ``continue`` — the plan goes on with the
next groups. Planned plans stop by default, unplanned ones continue (:func:`failure_policy`).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from hvdr.actions import ActionRecord, ActionSpec
from hvdr.failover import FailoverSpec, FailoverState, StepRecord
from hvdr.payloads import Durable

PlanKind = Literal["planned", "unplanned", "test"]
OnFailure = Literal["stop", "continue"]

DEFAULT_ON_FAILURE: dict[str, OnFailure] = {"planned": "stop", "unplanned": "continue", "test": "stop"}
"""What a failed VM does to the rest of the plan when the topology does not say (issue #14)."""

ADHOC_PLAN = "adhoc"
"""The plan name of ``hvdr plan run --vm …`` (one group of the named VMs)."""


def plan_workflow_id(plan: str, number: int) -> str:
    return f"plan/{plan.lower()}/{number}"


def failure_policy(declared: str | Mapping[Any, str] | None, kind: str) -> OnFailure:
    """The plan's ``on_failure`` for this kind: a mapping per kind, one word for every kind, or the default.

    ``rollback`` (an older topology word) stops the plan: each failed VM is rolled back by its own operation;
    VMs of earlier groups stay failed over (moving them back is a failback)."""
    value = declared.get(kind) if isinstance(declared, Mapping) else declared
    if value is None:
        return DEFAULT_ON_FAILURE.get(kind, "stop")
    return "continue" if value == "continue" else "stop"


class GroupSpec(Durable):
    name: str
    vms: list[FailoverSpec]
    before: list[ActionSpec] = Field(default_factory=list)
    after: list[ActionSpec] = Field(default_factory=list)


class PlanSpec(Durable):
    """Everything a plan run needs, resolved from the inventory when it starts."""

    plan: str
    kind: PlanKind = "planned"
    groups: list[GroupSpec]
    on_failure: OnFailure = "stop"
    dry_run: bool = False
    retry_of: str | None = None
    """The run this one retries (it holds only what failed there)."""
    failback: bool = False
    """``hvdr failback --plan``: the plan's VMs back to their home sites (planned, replication reversed)."""
    already_home: list[str] = Field(default_factory=list)
    """Failback: the plan's VMs left out because they already run at home."""
    rto_target_s: float | None = None
    time_scale: float = Field(1.0, gt=0)
    measured: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Dry run: measured seconds from earlier runs — per VM (``vm`` → step → s, and ``total``), per group
    (``group:<name>`` → ``total``) and the fleet's median per step (``*``)."""

    def vm_count(self) -> int:
        return sum(len(g.vms) for g in self.groups)


class VMRun(Durable):
    """One VM of a plan run: its group and its single-VM operation's state."""

    group: str
    state: FailoverState
    predicted_s: float | None = None
    """Dry run: the VM's predicted duration from measured step times."""


class GroupRecord(Durable):
    name: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: Literal["pending", "running", "done", "failed", "skipped"] = "pending"
    predicted_s: float | None = None


class PlanState(Durable):
    spec: PlanSpec
    groups: list[GroupRecord] = Field(default_factory=list)
    vms: list[VMRun] = Field(default_factory=list)
    actions: list[ActionRecord] = Field(default_factory=list)
    outcome: Literal["running", "succeeded", "partial", "failed", "stopped", "dry_run"] = "running"
    error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    predicted_s: float | None = None


class TimelineStep(Durable):
    """One bar of a plan's timeline (a report's Gantt row): a VM's step or a group's action."""

    lane: str
    """The VM's name, or ``group:<name>`` for an action."""
    group: str
    step: str
    started_at: datetime
    ended_at: datetime | None = None
    outcome: str
    detail: str = ""


class PlanVMReport(Durable):
    vm: str
    group: str
    outcome: str
    source_host: str
    target_host: str
    failed_step: str | None = None
    error: str | None = None
    undone: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    rto_s: float | None = None
    """From the run's start to the VM's verify (running and answering at the target)."""
    predicted_s: float | None = None


class PlanReport(Durable):
    """The result of a plan run (``hvdr plan run`` prints it; ``hvdr plan show`` reads it)."""

    workflow_id: str
    plan: str
    kind: str
    dry_run: bool = False
    outcome: str
    on_failure: str
    retry_of: str | None = None
    failback: bool = False
    already_home: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    rto_target_s: float | None = None
    predicted_s: float | None = None
    time_scale: float = 1.0
    """The hosts' clock speed the run used (the lab's; 1 on real hosts)."""
    groups: list[GroupRecord]
    vms: list[PlanVMReport]
    actions: list[ActionRecord]
    timeline: list[TimelineStep]
    error: str | None = None

    def failed_vms(self) -> list[str]:
        return [v.vm for v in self.vms if v.outcome != "succeeded"]

    @classmethod
    def of(cls, workflow_id: str, state: PlanState) -> PlanReport:
        spec = state.spec
        timeline: list[TimelineStep] = []
        vms: list[PlanVMReport] = []
        for run in state.vms:
            f = run.state
            verified = next((r.ended_at for r in f.steps if r.step == "verify" and r.outcome == "done"), None)
            vms.append(
                PlanVMReport(
                    vm=f.spec.vm,
                    group=run.group,
                    outcome=f.outcome if f.steps else "not_started",
                    source_host=f.spec.source.host,
                    target_host=f.spec.target.host,
                    failed_step=f.failed_step.value if f.failed_step else None,
                    error=f.error,
                    undone=f.undone,
                    started_at=f.steps[0].started_at if f.steps else None,
                    ended_at=f.steps[-1].ended_at if f.steps else None,
                    rto_s=(verified - state.started_at).total_seconds() if verified and state.started_at else None,
                    predicted_s=run.predicted_s,
                )
            )
            timeline.extend(_bar(f.spec.vm, run.group, r) for r in f.steps)
        for action in state.actions:
            if action.started_at is None:
                continue
            timeline.append(
                TimelineStep(
                    lane=f"group:{action.group}",
                    group=action.group,
                    step=f"{action.when} {action.name}",
                    started_at=action.started_at,
                    ended_at=action.ended_at,
                    outcome=action.outcome,
                    detail=action.detail,
                )
            )
        duration = (state.ended_at - state.started_at).total_seconds() if state.ended_at and state.started_at else None
        return cls(
            workflow_id=workflow_id,
            plan=spec.plan,
            kind=spec.kind,
            dry_run=spec.dry_run,
            outcome=state.outcome,
            on_failure=spec.on_failure,
            retry_of=spec.retry_of,
            failback=spec.failback,
            already_home=spec.already_home,
            started_at=state.started_at,
            ended_at=state.ended_at,
            duration_s=duration,
            rto_target_s=spec.rto_target_s,
            predicted_s=state.predicted_s,
            time_scale=spec.time_scale,
            groups=state.groups,
            vms=vms,
            actions=state.actions,
            timeline=timeline,
            error=state.error,
        )


def _bar(vm: str, group: str, record: StepRecord) -> TimelineStep:
    return TimelineStep(
        lane=vm,
        group=group,
        step=record.step.value,
        started_at=record.started_at,
        ended_at=record.ended_at,
        outcome=record.outcome,
        detail=record.detail,
    )


def measured_times(reports: list[PlanReport]) -> dict[str, dict[str, float]]:
    """Seconds measured in earlier runs, newest first: per VM (each step and ``total``, from its newest run),
    per group (``group:<name>`` → ``total``) and the fleet's median per step (``*``)."""
    measured: dict[str, dict[str, float]] = {}
    per_step: dict[str, list[float]] = {}
    for report in reports:
        if report.dry_run:
            continue
        for group in report.groups:
            if group.outcome == "done" and group.started_at and group.ended_at:
                measured.setdefault(
                    f"group:{group.name}", {"total": (group.ended_at - group.started_at).total_seconds()}
                )
        lanes: dict[str, list[TimelineStep]] = {}
        for bar in report.timeline:
            if not bar.lane.startswith("group:"):
                lanes.setdefault(bar.lane.lower(), []).append(bar)
        for vm, bars in lanes.items():
            done = [b for b in bars if b.outcome == "done" and b.ended_at is not None]
            if vm in measured or not done or len(done) != len(bars):
                continue
            steps = {b.step: (b.ended_at - b.started_at).total_seconds() for b in done if b.ended_at}
            for step, seconds in steps.items():
                per_step.setdefault(step, []).append(seconds)
            last = max(b.ended_at for b in done if b.ended_at)
            measured[vm] = {**steps, "total": (last - min(b.started_at for b in done)).total_seconds()}
    measured["*"] = {step: statistics.median(values) for step, values in per_step.items()}
    return measured
