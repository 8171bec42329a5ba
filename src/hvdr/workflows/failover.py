"""PlannedFailoverWorkflow (id ``failover/<vm>``): one VM moves to its replica host with zero data loss.

preflight → shutdown → prepare → fail over → connect → start → verify → reverse → record. Every host step is
one idempotent activity on the site queue of the host it touches; state lives in one ``FailoverState``, each
step is recorded with its start, end and outcome, and ``HvdrPhase`` / the current details follow the step.
When a step after the shutdown fails, the run undoes in reverse (cancel the failover on the replica, cancel
the prepare, start the source again) unless the operator chose ``--no-rollback``; reverse is taken only once
the VM runs verified on the target, so until then everything can be undone (see :mod:`hvdr.failover`).

The sequence itself is :class:`FailoverSequence`, one object per VM: this workflow runs one with its activities
on the site queues; a recovery plan (:mod:`hvdr.workflows.plan`) runs one per VM with its host steps batched
per host. Both take every step, check and undo from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from hvdr.activities.failover import (
        ConnectInput,
        FailoverActivities,
        PlacementInput,
        ShutdownInput,
        SourceCheck,
        TargetCheck,
        VerifyInput,
    )
    from hvdr.activities.protection import HostVM
    from hvdr.activities.runs import GoOn, RunLinks, StandBy
    from hvdr.failover import FailoverReport, FailoverSpec, FailoverState, Step, StepRecord
    from hvdr.hyperv import models as hv
    from hvdr.protection import Endpoint
    from hvdr.settings import WORKFLOW_TASK_QUEUE
    from hvdr.visibility import HVDR_PHASE, HVDR_SITE

# Workflow code, not passed through: the sandbox loads it with the same model classes as this module.
from hvdr.workflows.kit import HOST_COMMAND, STEP, ActivityOptions, Publisher, reason, run_activity, step

T = TypeVar("T")

KIT_PATCH = "failover-kit"
"""Histories without this marker were recorded before the kit's Publisher: their first event re-sent the phase
the run was started with (``preflight``), which the Publisher now skips as unchanged."""
FEWER_TRIPS_PATCH = "failover-fewer-trips"
"""Histories without this marker ran preflight's source check, replica check and stand-by one after another, and
recorded the placement before protection went on; now each pair of independent calls travels together (a plan's
group takes two round trips fewer: with a thousand VMs the round trips, not the host work, are the wall time)."""
LINK_RETRY = RetryPolicy(maximum_attempts=5, non_retryable_error_types=["OperationConflict"])


async def link(method: Callable[..., Awaitable[T]], argument: Any, summary: str) -> T:
    """A call to a VM's protection run (stand by, go on, the operations check), through the workflow task queue."""
    result: T = await workflow.execute_activity_method(
        method,
        argument,
        task_queue=WORKFLOW_TASK_QUEUE,
        summary=summary,
        start_to_close_timeout=timedelta(seconds=60),
        retry_policy=LINK_RETRY,
    )
    return result


class StepFailed(Exception):
    def __init__(self, step: Step, message: str) -> None:
        super().__init__(message)
        self.step = step
        self.message = message


class Execute(Protocol):
    """How a sequence runs one host activity: the method, its argument, the endpoint it touches, the options."""

    async def __call__(
        self, method: Callable[..., Awaitable[Any]], argument: Any, where: Endpoint, how: ActivityOptions
    ) -> Any: ...


class Link(Protocol):
    """How a sequence calls the VM's protection run (stand by, go on)."""

    async def __call__(self, method: Callable[..., Awaitable[Any]], argument: Any, summary: str) -> Any: ...


class FailoverSequence:
    """The planned failover of one VM: its steps, checks and compensation, over whatever runs its activities.

    ``on_step`` hears of each step as it starts (the single-VM workflow publishes it); ``on_details`` of what
    the sequence is doing now (rolling back …); ``on_moved`` once the VM runs at the target.
    """

    def __init__(
        self,
        state: FailoverState,
        operation: str,
        execute: Execute,
        link: Link,
        *,
        on_step: Callable[[Step], None] = lambda _: None,
        on_details: Callable[[str], None] = lambda _: None,
        on_moved: Callable[[], None] = lambda: None,
        gate: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        self.state = state
        self.operation = operation
        self._execute, self._link_call = execute, link
        self._on_step, self._on_details, self._on_moved = on_step, on_details, on_moved
        self._gate = gate
        """Awaited once the VM runs verified at the target, before replication is reversed (a plan's group runs
        its after-actions there): a reason means "do not go on" and the VM is rolled back like a failed step."""
        self._source_was_running = True
        self._stood_by = False

    async def run(self) -> None:
        s, spec = self.state, self.state.spec
        try:
            await self._step(Step.PREFLIGHT, self._preflight)
            await self._step(Step.SHUTDOWN, self._shutdown)
            await self._step(Step.PREPARE, lambda: self._on_source(FailoverActivities.prepare, self._source()))
            await self._step(Step.FAILOVER, lambda: self._on_target(FailoverActivities.fail_over, self._target()))
            if spec.target_network is not None:
                network = spec.target_network
                await self._step(
                    Step.CONNECT,
                    lambda: self._on_target(
                        FailoverActivities.connect, ConnectInput(host=spec.target.host, vm=spec.vm, network=network)
                    ),
                )
            await self._step(Step.START, lambda: self._on_target(FailoverActivities.start_vm, self._target()))
            await self._step(Step.VERIFY, self._verify)
            if self._gate is not None and (refused := await self._gate()) is not None:
                raise StepFailed(Step.REVERSE, refused)
            await self._step(Step.REVERSE, lambda: self._on_target(FailoverActivities.reverse, self._target()))
        except StepFailed as failed:
            s.error, s.failed_step = f"{failed.step.value}: {failed.message}", failed.step
            await self._after_failure(failed.step)
            return
        s.outcome = "succeeded"
        if workflow.patched(FEWER_TRIPS_PATCH):
            await asyncio.gather(self._record_placement(), self._go_on(reversed_=True))
        else:
            await self._record_placement()
            await self._go_on(reversed_=True)

    # -- the steps --------------------------------------------------------------------------------------------

    async def _preflight(self) -> str:
        spec = self.state.spec
        checks = (
            lambda: self._on_source(
                FailoverActivities.check_source,
                SourceCheck(
                    host=spec.source.host,
                    vm=spec.vm,
                    replica_host=spec.target.host,
                    force=spec.force,
                    max_point_age_s=spec.max_point_age_s,
                ),
            ),
            lambda: self._on_target(
                FailoverActivities.check_target,
                TargetCheck(
                    host=spec.target.host,
                    vm=spec.vm,
                    network=spec.target_network,
                    failover_ip=spec.failover_ip,
                ),
            ),
            lambda: self._link(
                RunLinks.stand_by,
                StandBy.model_validate({"vm": spec.vm, "begin": {"operation": self.operation}}),
                f"protection of {spec.vm} stands by",
            ),
        )
        if workflow.patched(FEWER_TRIPS_PATCH):
            # Both checks only read (the replica's declared failover IP aside) and the stand-by is undone by the
            # go-on that follows any failed preflight, so the three go at once; errors are reported in the old order.
            results = await asyncio.gather(*(check() for check in checks), return_exceptions=True)
            self._stood_by = results[2] is not None and not isinstance(results[2], BaseException)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            source = results[0]
            assert isinstance(source, hv.VMInfo)
            self._source_was_running = source.state is not hv.VMState.OFF
            begun = results[2]
        else:
            source = await checks[0]()
            self._source_was_running = source.state is not hv.VMState.OFF
            await checks[1]()
            begun = await checks[2]()
        if begun is None:
            raise ApplicationError(
                f"{spec.vm} is not protected (no running protection run): protect it first with "
                f"`hvdr protect enable --vm {spec.vm}`",
                type="NotProtected",
            )
        self._stood_by = True
        return (
            f"source {source.state.value}, replication {source.replication_state.value}/"
            f"{source.replication_health.value}; replica ready on {spec.target.host}; protection stands by"
        )

    async def _shutdown(self) -> str:
        spec = self.state.spec
        vm: hv.VMInfo = await self._on_source(
            FailoverActivities.shut_down, ShutdownInput(host=spec.source.host, vm=spec.vm, mode=spec.shutdown)
        )
        return f"{spec.vm} is {vm.state.value} on {spec.source.host} ({spec.shutdown} shutdown)"

    async def _verify(self) -> str:
        spec = self.state.spec
        verified = await self._on_target(
            FailoverActivities.verify,
            VerifyInput.at_target(spec),
        )
        return verified.describe()

    # -- compensation -----------------------------------------------------------------------------------------

    async def _after_failure(self, failed: Step) -> None:
        s, spec = self.state, self.state.spec
        reached = {r.step for r in s.steps}
        if Step.SHUTDOWN not in reached or (failed is Step.SHUTDOWN and not self._source_was_running):
            s.outcome = "failed"
            await self._go_on()
            return
        if not spec.rollback:
            s.outcome = "failed"
            s.undone.append(f"nothing undone (--no-rollback): the run stopped at {failed.value}")
            await self._go_on(replicating=False)
            return
        why = f"because {failed.value} failed"
        undo: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
        if Step.FAILOVER in reached:
            undo.append(
                (
                    f"cancelled the failover on {spec.target.host} (Stop-VMFailover: the copy is off and Replicating)",
                    lambda: self._on_target(FailoverActivities.stop_failover, self._target(), HOST_COMMAND),
                )
            )
        if Step.PREPARE in reached:
            undo.append(
                (
                    f"cancelled the prepare on {spec.source.host} (Stop-VMFailover: replication resumes)",
                    lambda: self._on_source(FailoverActivities.stop_failover, self._source(), HOST_COMMAND),
                )
            )
        if self._source_was_running:
            undo.append(
                (
                    f"started {spec.vm} again on {spec.source.host} (Start-VM unless it was running)",
                    lambda: self._on_source(FailoverActivities.start_vm, self._source(), HOST_COMMAND),
                )
            )
        for text, action in undo:
            self._on_details(f"rolling back {spec.vm}: {text}")
            try:
                async with step("undo", vm=spec.vm, action=text.split(" (")[0]):
                    await action()
            except (ActivityError, ApplicationError) as error:
                s.outcome = "failed"
                s.undone.append(f"could not undo ({text.split(' (')[0]}): {reason(error)}; stopped rolling back")
                await self._go_on(replicating=False)
                return
            s.undone.append(f"{text}, {why}")
        # A failed shutdown moved nothing: the failover did not happen (the source was only made sure to run).
        s.outcome = "failed" if failed is Step.SHUTDOWN else "rolled_back"
        for record in s.steps:
            if record.outcome == "done" and record.step is not Step.PREFLIGHT:
                record.outcome = "undone"
        await self._go_on()

    # -- helpers ----------------------------------------------------------------------------------------------

    async def _step(self, name: Step, action: Callable[[], Awaitable[Any]]) -> None:
        s = self.state
        s.step = name
        record = StepRecord(step=name, started_at=workflow.now())
        s.steps.append(record)
        self._on_step(name)
        try:
            async with step(name.value, vm=s.spec.vm):
                result = await action()
        except (ActivityError, ApplicationError) as error:
            record.ended_at, record.outcome = workflow.now(), "failed"
            record.detail = reason(error)
            raise StepFailed(name, record.detail) from None
        record.ended_at, record.outcome = workflow.now(), "done"
        record.detail = result if isinstance(result, str) else _describe(result)

    async def _record_placement(self) -> None:
        spec, s = self.state.spec, self.state
        record = StepRecord(step=Step.RECORD, started_at=workflow.now())
        s.steps.append(record)
        try:
            async with step(Step.RECORD.value, vm=spec.vm):
                record.detail = await self._on_target(
                    FailoverActivities.record_placement,
                    PlacementInput(vm=spec.vm, host=spec.target.host, site=spec.target.site),
                )
            record.outcome = "done"
        except (ActivityError, ApplicationError) as error:
            # The VM has moved; a stale inventory is reported, never a reason to move it back.
            record.outcome, record.detail = "failed", reason(error)
            message = f"record: {record.detail} (the VM runs on {spec.target.host}; run `hvdr discover`)"
            s.error = f"{message}; {s.error}" if s.error else message  # protection's go-on may have failed first
        record.ended_at = workflow.now()
        self._on_moved()

    async def _go_on(self, *, reversed_: bool = False, replicating: bool = True) -> None:
        """The protection run goes on (in the new direction when replication was reversed)."""
        spec = self.state.spec
        end: dict[str, Any] = {"operation": self.operation, "replicating": replicating}
        if reversed_:
            end.update(primary=spec.target.model_dump(), replica=spec.source.model_dump())
        if not self._stood_by:
            return
        try:
            await self._link(
                RunLinks.go_on, GoOn.model_validate({"vm": spec.vm, "end": end}), f"protection of {spec.vm} goes on"
            )
        except (ActivityError, ApplicationError) as error:
            message = f"protection did not resume: {reason(error)}"
            self.state.error = f"{self.state.error}; {message}" if self.state.error else message

    def _source(self) -> HostVM:
        return HostVM(host=self.state.spec.source.host, vm=self.state.spec.vm)

    def _target(self) -> HostVM:
        return HostVM(host=self.state.spec.target.host, vm=self.state.spec.vm)

    async def _on_source(self, method: Callable[..., Awaitable[T]], argument: Any, how: ActivityOptions = STEP) -> T:
        result: T = await self._execute(method, argument, self.state.spec.source, how)
        return result

    async def _on_target(self, method: Callable[..., Awaitable[T]], argument: Any, how: ActivityOptions = STEP) -> T:
        result: T = await self._execute(method, argument, self.state.spec.target, how)
        return result

    async def _link(self, method: Callable[..., Awaitable[T]], argument: Any, summary: str) -> T:
        result: T = await self._link_call(method, argument, summary)
        return result


@workflow.defn(name="PlannedFailover")
class PlannedFailoverWorkflow:
    @workflow.init
    def __init__(self, spec: FailoverSpec) -> None:
        self.state = FailoverState(spec=spec, kind=spec.kind)
        self._publisher = Publisher()

    @workflow.query
    def details(self) -> FailoverState:
        return self.state

    @workflow.query
    def report(self) -> FailoverReport:
        return FailoverReport.of(workflow.info().workflow_id, self.state)

    @workflow.run
    async def run(self, spec: FailoverSpec) -> FailoverReport:
        if not workflow.patched(KIT_PATCH):  # a run recorded before the kit: it re-sent its starting phase
            workflow.upsert_search_attributes([HVDR_PHASE.value_set(Step.PREFLIGHT.value)])
        s = self.state
        sequence = FailoverSequence(
            s,
            workflow.info().workflow_id,
            self._activity,
            self._link,
            on_step=self._publish_step,
            on_details=self._publisher.details,
            on_moved=lambda: self._publisher.attributes((HVDR_SITE, spec.target.site)),
        )
        await sequence.run()
        return self._finish()

    def _publish_step(self, step: Step) -> None:
        s = self.state
        self._publisher.attributes((HVDR_PHASE, step.value))
        self._publisher.details(f"**{s.spec.vm}** {s.spec.source.host} → {s.spec.target.host}: {step.value}")

    def _finish(self) -> FailoverReport:
        s = self.state
        phase = {"succeeded": "done", "rolled_back": "rolled-back"}.get(s.outcome, "failed")
        self._publisher.attributes((HVDR_PHASE, phase))
        error = f" — {s.error}" if s.error else ""
        self._publisher.details(f"**{s.spec.vm}**: {s.outcome.replace('_', ' ')}{error}")
        return FailoverReport.of(workflow.info().workflow_id, s)

    async def _activity(
        self, method: Callable[..., Awaitable[T]], argument: Any, where: Endpoint, how: ActivityOptions
    ) -> T:
        return await run_activity(
            method,
            argument,
            site=where.site,
            summary=f"{self.state.step.value} {self.state.spec.vm} on {where.host}",
            options=how,
        )

    async def _link(self, method: Callable[..., Awaitable[T]], argument: Any, summary: str) -> T:
        """A call to the VM's protection run (stand by, go on), through the workflow task queue."""
        return await link(method, argument, summary)


def _describe(result: object) -> str:
    if isinstance(result, hv.ReplicationInfo):
        return f"{result.vm_name}: {result.mode.value}, {result.state.value}"
    if isinstance(result, hv.VMInfo):
        return f"{result.name}: {result.state.value}"
    if isinstance(result, list):
        return ", ".join(f"{a.name} → {a.switch_name}" for a in result if isinstance(a, hv.NetworkAdapter))
    return ""
