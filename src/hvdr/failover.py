"""Failover of one VM: what a run is asked to do, what it knows, and the report it ends with.

A planned failover's steps, in the order the run takes them (``Step``): preflight, guest shutdown of the
source, prepare (the final sync), fail over on the replica, connect the mapped network, start, verify, then
reverse replication and record the new placement. Reverse comes after verify on purpose: until then every
step can be undone (Stop-VMFailover on the replica turns the copy off and reverts it, Stop-VMFailover on the
source cancels the prepare, Start-VM starts the source again); once replication is reversed the old source is
a replica and the way back is a planned failover in the other direction (failback).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol, Self

from pydantic import Field

from hvdr.payloads import Durable
from hvdr.protection import Endpoint

OPERATION_KINDS: tuple[str, ...] = ("failover", "failback", "testfailover", "reverse")
"""The kinds of run that operate on a VM, each with the id ``<kind>/<vm>`` (lower-cased). A VM takes one
operation at a time, whatever its kind: :meth:`hvdr.client.Client.operation_conflict` looks for a running run of
each kind before one starts, and the run itself claims the VM through its protection run (the
``protection_stand_by`` activity, which refuses while another operation holds the VM). A new kind of operation
appends its kind here."""

OperationKind = Literal["planned", "failback"]


def operation_workflow_id(kind: str, vm: str) -> str:
    """The run id of an operation on a VM: case-insensitive, as VM names are on Hyper-V."""
    return f"{kind}/{vm.lower()}"


def failover_workflow_id(vm: str) -> str:
    """One failover run per VM at a time; the id is case-insensitive (VM names are, on Hyper-V)."""
    return operation_workflow_id("failover", vm)


def failback_workflow_id(vm: str) -> str:
    """A failback: a planned failover back to the VM's home site (where the topology declares it)."""
    return operation_workflow_id("failback", vm)


class Step(StrEnum):
    PREFLIGHT = "preflight"
    SHUTDOWN = "shutdown"
    PREPARE = "prepare"
    FAILOVER = "failover"
    CONNECT = "connect"
    START = "start"
    VERIFY = "verify"
    REVERSE = "reverse"
    RECORD = "record"
    FENCE = "fence"
    COMMIT = "commit"
    CANCEL = "cancel"
    CLEANUP = "cleanup"
    """A test failover's removal of its test VM (listed by a test plan's dry run)."""


PLANNED_STEPS: tuple[Step, ...] = (
    Step.PREFLIGHT,
    Step.SHUTDOWN,
    Step.PREPARE,
    Step.FAILOVER,
    Step.CONNECT,
    Step.START,
    Step.VERIFY,
    Step.REVERSE,
    Step.RECORD,
)

ShutdownMode = Literal["graceful", "force", "turn_off"]


class FailoverAddress(Durable):
    """An address a VM's adapter takes after failover, as runs store it: mapped from the topology's
    ``failover_ipv4`` (a failover sets it through the driver's ``FailoverIPConfig``) or ``failover_ipv6`` (only
    its address matters there: `hvdr check` compares it with the mapped subnet)."""

    address: str
    subnet_mask: str | None = None
    default_gateway: str | None = None
    preferred_dns_server: str | None = None


class FailoverSpec(Durable):
    """Everything a planned failover of one VM needs, resolved from the inventory when it starts."""

    vm: str
    source: Endpoint
    target: Endpoint
    target_network: str | None = None
    """The switch the VM connects to on the target host (the network mapping); None = leave adapters as they are."""
    failover_ip: FailoverAddress | None = None
    """The address the guest must report after failover (declared in the topology); None = not checked."""
    shutdown: ShutdownMode = "graceful"
    """graceful: Stop-VM (Hyper-V gives the guest five minutes, then fails); force: Stop-VM -Force (the guest gets
    the same five minutes, then is forced off); turn_off: power off (only when the operator asks)."""
    rollback: bool = True
    boot_timeout_s: float = Field(600.0, gt=0)
    """Host seconds the guest has after Start-VM to answer with a heartbeat (and its failover IP)."""
    time_scale: float = Field(1.0, gt=0)
    kind: OperationKind = "planned"
    """failback: the same sequence, back to the VM's home site (the report says so)."""
    force: bool = False
    """Proceed although replication's health is Critical, when the last replication is recent enough
    (``max_point_age_s``): the prepare's final sync still sends every pending change. Never past a VM that is not
    protected or not Replicating."""
    max_point_age_s: float = Field(3600.0, gt=0)
    """Host seconds since the last replication that ``force`` accepts (Hyper-V's own "behind by more than an
    hour" line)."""


class StepRecord(Durable):
    step: Step
    started_at: datetime
    ended_at: datetime | None = None
    outcome: Literal["running", "done", "failed", "undone", "skipped"] = "running"
    detail: str = ""


class RanSteps(Protocol):
    """What a failover run's state holds for its report, whatever its kind."""

    @property
    def steps(self) -> list[StepRecord]: ...
    @property
    def undone(self) -> list[str]: ...
    @property
    def error(self) -> str | None: ...
    @property
    def failed_step(self) -> Step | None: ...
    @property
    def outcome(self) -> str: ...


class FailoverState(Durable):
    """The one state of a failover run (its queries return it)."""

    spec: FailoverSpec
    kind: OperationKind = "planned"
    step: Step = Step.PREFLIGHT
    steps: list[StepRecord] = Field(default_factory=list)
    undone: list[str] = Field(default_factory=list)
    """Compensation actions taken, in order, each with what it did."""
    error: str | None = None
    failed_step: Step | None = None
    outcome: Literal["running", "succeeded", "rolled_back", "failed"] = "running"


class FailoverReport(Durable):
    """The result of a failover run (``hvdr failover planned`` prints it; ``hvdr show`` reads it)."""

    workflow_id: str
    vm: str
    kind: str
    outcome: str
    source: Endpoint
    target: Endpoint
    now_runs_on: Endpoint
    steps: list[StepRecord]
    undone: list[str]
    error: str | None = None
    failed_step: Step | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    time_scale: float = 1.0
    """The hosts' clock speed the run used (the lab's; 1 on real hosts): host seconds = wall seconds × scale."""

    @classmethod
    def of(cls, workflow_id: str, state: FailoverState) -> FailoverReport:
        return cls.of_run(workflow_id, state.spec, state, kind=state.kind, moved=state.outcome == "succeeded")

    @classmethod
    def of_run(
        cls,
        workflow_id: str,
        spec: FailoverSpec,
        state: RanSteps,
        *,
        kind: str,
        moved: bool,
        ended: bool = True,
        **more: Any,
    ) -> Self:
        """The report's fields every kind of failover run shares (``more``: a kind's own)."""
        return cls(
            workflow_id=workflow_id,
            vm=spec.vm,
            kind=kind,
            outcome=state.outcome,
            source=spec.source,
            target=spec.target,
            now_runs_on=spec.target if moved else spec.source,
            steps=state.steps,
            undone=state.undone,
            error=state.error,
            failed_step=state.failed_step,
            started_at=state.steps[0].started_at if state.steps else None,
            ended_at=state.steps[-1].ended_at if state.steps and ended else None,
            time_scale=spec.time_scale,
            **more,
        )
