"""Test failover of one VM: what a run is asked to do, what it knows, and the report it ends with.

A test failover never touches production: ``Start-VMFailover -AsTest`` on the replica host creates
"<vm> - Test" from the latest replicated state (or a chosen recovery point) while the replica keeps receiving
replication. hvdr connects it to the mapped *test* network, starts and verifies it, keeps it for ``keep_s``
or until ``hvdr failover test cleanup``, then removes it (``Stop-VMFailover`` on the replica) and confirms
that nothing is left behind. Production replication's RPO is measured on the replica throughout and reported.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from hvdr.failover import FailoverAddress
from hvdr.payloads import Durable
from hvdr.protection import Endpoint
from hvdr.recovery_points import LATEST, LATEST_APP_CONSISTENT, parse_point

KIND = "testfailover"


def testfailover_workflow_id(vm: str) -> str:
    """One test failover per VM at a time (Hyper-V allows one); case-insensitive, as VM names are."""
    return f"{KIND}/{vm.lower()}"


class TestStep(StrEnum):
    __test__ = False  # not a pytest class

    PREFLIGHT = "preflight"
    FAILOVER = "failover"
    CONNECT = "connect"
    START = "start"
    VERIFY = "verify"
    KEEP = "keep"
    CLEANUP = "cleanup"
    CONFIRM = "confirm"


class RecoveryPointChoice(Durable):
    """Which state the test VM starts from: the latest replicated state, the latest application-consistent
    recovery point, the newest point at or before a time, or a point by id (``hvdr recovery-points``)."""

    kind: Literal["latest", "latest-app-consistent", "time", "id"] = "latest"
    at: datetime | None = None
    id: uuid.UUID | None = None

    @classmethod
    def parse(cls, text: str) -> RecoveryPointChoice:
        """A ``--point`` as :func:`hvdr.recovery_points.parse_point` reads it (one meaning for both failovers)."""
        canonical = parse_point(text)
        if canonical in (LATEST, LATEST_APP_CONSISTENT):
            return cls(kind=canonical)
        try:
            return cls(kind="id", id=uuid.UUID(canonical))
        except ValueError:
            return cls(kind="time", at=datetime.fromisoformat(canonical))

    def text(self) -> str:
        """The canonical ``--point`` text, as :func:`hvdr.recovery_points.choose_point` takes it."""
        if self.kind == "time" and self.at is not None:
            return self.at.isoformat()
        if self.kind == "id":
            return str(self.id)
        return self.kind

    def describe(self) -> str:
        if self.kind == "time" and self.at is not None:
            return f"the newest point at or before {self.at.isoformat()}"
        if self.kind == "id":
            return f"point {self.id}"
        return self.kind


class TestFailoverSpec(Durable):
    """Everything a test failover of one VM needs, resolved from the inventory and its protection run."""

    __test__ = False

    vm: str
    source: Endpoint
    """Where the VM runs (production: never touched)."""
    target: Endpoint
    """The replica host, where the test VM is created."""
    test_network: str | None = None
    """The mapped test switch on the replica host; None = the test VM stays unconnected (Hyper-V's default)."""
    failover_ip: FailoverAddress | None = None
    point: RecoveryPointChoice = Field(default_factory=RecoveryPointChoice)
    keep_s: float | None = Field(None, ge=0)
    """Host seconds the test VM is kept after it is verified; None = until ``hvdr failover test cleanup``."""
    boot_timeout_s: float = Field(600.0, gt=0)
    rpo_threshold_s: float | None = None
    """The policy's RPO alert threshold: above it, production replication was not within its normal range."""
    rpo_sample_s: float = Field(300.0, gt=0)
    """Host seconds between RPO measurements while the test VM is kept."""
    ticks_per_run: int = Field(500, ge=1)
    """RPO measurements one run takes while it keeps the test VM before it continues-as-new with its state
    (sooner when Temporal suggests it): a test kept for days keeps each history a few thousand events long."""
    time_scale: float = Field(1.0, gt=0)


class TestStepRecord(Durable):
    __test__ = False

    step: TestStep
    started_at: datetime
    ended_at: datetime | None = None
    outcome: Literal["running", "done", "failed", "skipped"] = "running"
    detail: str = ""


class RpoSample(Durable):
    at: datetime
    step: TestStep
    rpo_s: float | None
    """Host time minus the replica's last replication; None when the replica could not be measured."""
    state: str = ""


class RpoDuringTest(Durable):
    """Production replication's RPO, measured on the replica host from preflight to clean-up."""

    samples: int = 0
    unmeasured: int = 0
    min_s: float | None = None
    max_s: float | None = None
    last: list[RpoSample] = Field(default_factory=list)
    """The most recent samples (at most ``KEPT_SAMPLES``: a test kept for days stays small)."""
    threshold_s: float | None = None

    KEPT_SAMPLES: ClassVar[int] = 20

    def add(self, sample: RpoSample) -> None:
        if sample.rpo_s is None:
            self.unmeasured += 1
        else:
            self.samples += 1
            self.min_s = sample.rpo_s if self.min_s is None else min(self.min_s, sample.rpo_s)
            self.max_s = sample.rpo_s if self.max_s is None else max(self.max_s, sample.rpo_s)
        self.last = [*self.last, sample][-self.KEPT_SAMPLES :]

    @property
    def within_threshold(self) -> bool | None:
        if self.threshold_s is None or self.max_s is None:
            return None
        return self.max_s <= self.threshold_s


class TestFailoverState(Durable):
    """The one state of a test failover run (its queries return it; continue-as-new carries it)."""

    __test__ = False

    spec: TestFailoverSpec
    step: TestStep = TestStep.PREFLIGHT
    steps: list[TestStepRecord] = Field(default_factory=list)
    test_vm: str | None = None
    point: str | None = None
    """The state the test VM started from, as the replica named it."""
    keep_until: datetime | None = None
    cleanup_by: str | None = None
    """Why the test VM was removed: the --keep time ran out, an operator's clean-up (who), or a failure."""
    rpo: RpoDuringTest = Field(default_factory=RpoDuringTest)
    cleaned_up: bool = False
    """Confirmed by reading the replica host: no test VM, no leftover snapshot, replication unchanged."""
    error: str | None = None
    failed_step: TestStep | None = None
    outcome: Literal["running", "succeeded", "failed"] = "running"


class TestFailoverInput(Durable):
    """A run's input: a new test, or (continue-as-new) the state of the one in progress."""

    __test__ = False

    spec: TestFailoverSpec
    state: TestFailoverState | None = None


class CleanupRequest(Durable):
    by: str = ""


class TestFailoverReport(Durable):
    """The result of a test failover run (``hvdr failover test`` prints it; ``hvdr show`` reads it)."""

    __test__ = False

    workflow_id: str
    vm: str
    kind: str = KIND
    outcome: str
    source: Endpoint
    target: Endpoint
    test_vm: str | None
    test_network: str | None
    point: str | None
    phase: str
    steps: list[TestStepRecord]
    keep_until: datetime | None
    cleanup_by: str | None
    cleaned_up: bool
    rpo: RpoDuringTest
    error: str | None = None
    failed_step: TestStep | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @classmethod
    def of(cls, workflow_id: str, state: TestFailoverState) -> TestFailoverReport:
        spec = state.spec
        return cls(
            workflow_id=workflow_id,
            vm=spec.vm,
            outcome=state.outcome,
            source=spec.source,
            target=spec.target,
            test_vm=state.test_vm,
            test_network=spec.test_network,
            point=state.point,
            phase=state.step.value if state.outcome == "running" else state.outcome,
            steps=state.steps,
            keep_until=state.keep_until,
            cleanup_by=state.cleanup_by,
            cleaned_up=state.cleaned_up,
            rpo=state.rpo,
            error=state.error,
            failed_step=state.failed_step,
            started_at=state.steps[0].started_at if state.steps else None,
            ended_at=state.steps[-1].ended_at if state.outcome != "running" and state.steps else None,
        )
