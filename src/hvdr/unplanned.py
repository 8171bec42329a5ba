"""Unplanned failover of one VM (its primary site is lost): what the run is asked, what it knows, its report.

The run (``UnplannedFailover``, id ``failover/<vm>`` like a planned one, so two failovers of a VM never run
together): preflight on the replica host (the replica, its recovery points, the mapped network) → fence the old
primary (turn its VM off and suspend its replication so that two copies never run; when it does not answer,
"not fenced", and only ``--force`` goes on) → fail over from the chosen recovery point → connect → start →
verify → wait for ``commit`` (Complete-VMFailover: irreversible) or ``cancel`` (Stop-VMFailover: the replica is
reverted, the run ends and another point can be tried), or auto-commit after the set time. Replication stays as
it is until ``hvdr reverse`` (``ReverseReplication``, id ``reverse/<vm>``) once the old primary is back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from hvdr.failover import FailoverReport, FailoverSpec, Step, StepRecord
from hvdr.payloads import Durable
from hvdr.protection import Endpoint
from hvdr.recovery_points import LATEST, RecoveryPointInfo


def reverse_workflow_id(vm: str) -> str:
    return f"reverse/{vm.lower()}"


class RecoveryPointsRequest(Durable):
    vm: str
    replica: Endpoint


class RecoveryPoints(Durable):
    vm: str
    host: str
    points: list[RecoveryPointInfo]
    """Oldest first; the last is the latest state."""


class UnplannedSpec(FailoverSpec):
    """A planned failover's spec (endpoints, network, failover IP, boot timeout) and the unplanned choices."""

    point: str = LATEST
    """A parsed ``--point``: latest, latest-app-consistent, an ISO time or a recovery point id."""
    force: bool = False
    """Go on when the old primary cannot be fenced (it does not answer): the operator accepts the risk."""
    auto_commit_after_s: float | None = Field(None, ge=0)
    """Commit by itself this long (real seconds) after a verified start; None = wait for the operator."""
    fence_wait_s: float = Field(60.0, gt=0)
    """Real seconds the old primary's site gets to take up the fence (its worker may be gone with the site)."""


Outcome = Literal["running", "waiting", "committed", "cancelled", "refused", "failed"]


class UnplannedState(Durable):
    """The one state of an unplanned failover run (queries return it; continue-as-new carries it)."""

    spec: UnplannedSpec
    step: Step = Step.PREFLIGHT
    steps: list[StepRecord] = Field(default_factory=list)
    undone: list[str] = Field(default_factory=list)
    error: str | None = None
    failed_step: Step | None = None
    outcome: Outcome = "running"
    fenced: bool = False
    fence: str = ""
    """What the fence did, or why the old primary was not fenced."""
    point: RecoveryPointInfo | None = None
    failed_over_at: datetime | None = None
    """The replica host's clock when the failover started (the data lost runs from the point to here)."""
    verified: bool = False
    auto_commit_at: datetime | None = None
    stood_by: bool = False


class UnplannedReport(FailoverReport):
    """A failover report (``hvdr show``) with the unplanned part: the point, the fence, the data lost."""

    recovery_point: RecoveryPointInfo | None = None
    failed_over_at: datetime | None = None
    data_loss_s: float | None = None
    """Seconds of changes lost: from the recovery point to the failover (host clock)."""
    fenced: bool = False
    fence: str = ""
    auto_commit_at: datetime | None = None

    @classmethod
    def of_unplanned(cls, workflow_id: str, state: UnplannedState) -> UnplannedReport:
        spec = state.spec
        point, at = state.point, state.failed_over_at
        loss = (at - point.time).total_seconds() if point is not None and point.time and at else None
        return cls.of_run(
            workflow_id,
            spec,
            state,
            kind="unplanned",
            moved=state.outcome in ("committed", "waiting"),
            ended=state.outcome != "waiting",
            recovery_point=point,
            failed_over_at=at,
            data_loss_s=max(loss, 0.0) if loss is not None else None,
            fenced=state.fenced,
            fence=state.fence,
            auto_commit_at=state.auto_commit_at,
        )


class ReverseSpec(Durable):
    """``hvdr reverse``: the failed-over copy (now running) replicates back to the old primary."""

    vm: str
    primary: Endpoint
    """The new primary: where the VM was failed over to and runs."""
    replica: Endpoint
    """The old primary, back: it becomes the replica (``-AsReplica``)."""
    initial_method: Literal["network", "scheduled", "export"] = "network"
    initial_start_time: datetime | None = None
    initial_export_path: str | None = None


class ReverseStep(Durable):
    step: Literal["preflight", "as-replica", "reverse", "initial-replication", "protection"]
    started_at: datetime
    ended_at: datetime | None = None
    outcome: Literal["running", "done", "failed"] = "running"
    detail: str = ""


class ReverseReport(Durable):
    workflow_id: str
    vm: str
    outcome: Literal["running", "succeeded", "failed"] = "running"
    primary: Endpoint
    replica: Endpoint
    steps: list[ReverseStep] = Field(default_factory=list)
    error: str | None = None
