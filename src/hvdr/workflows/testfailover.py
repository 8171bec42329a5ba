"""TestFailoverWorkflow (id ``testfailover/<vm>``): the VM's replica is started as "<vm> - Test" on the mapped
test network, verified, kept, then removed — production replication is never interrupted.

preflight → failover (``Start-VMFailover -AsTest``) → connect → start → verify → keep → cleanup
(``Stop-VMFailover``) → confirm. Every host step is one idempotent activity on the replica site's queue (the
primary is never touched); state lives in one ``TestFailoverState``; ``HvdrPhase`` / the current details follow
the step. The keep is a durable wait (days are fine): it ends when ``keep_s`` runs out or the ``cleanup``
update arrives, measuring production's RPO on the replica every ``rpo_sample_s``, and continues-as-new with
its state when Temporal suggests it (after every update handler has finished). A failure at any step after
the test VM may exist removes it; the clean-up is confirmed by reading the replica host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from hvdr.activities.failover import ConnectInput, FailoverActivities, TargetCheck, VerifyInput
    from hvdr.activities.protection import HostVM, MeasureInput, Measurement, ProtectionActivities
    from hvdr.activities.testfailover import (
        Leftovers,
        OperationsCheck,
        TestFailoverActivities,
        TestFailoverLinks,
        TestStart,
        TestStarted,
        TestSwitchInput,
    )
    from hvdr.protection import Endpoint, ProtectionStatus
    from hvdr.testfailover import (
        CleanupRequest,
        RpoDuringTest,
        RpoSample,
        TestFailoverInput,
        TestFailoverReport,
        TestFailoverState,
        TestStep,
        TestStepRecord,
    )
    from hvdr.visibility import HVDR_PHASE

from hvdr.workflows.failover import Execute, Link, _describe, link
from hvdr.workflows.kit import (
    HOST_COMMAND,
    MEASURE,
    STEP,
    ActivityOptions,
    Publisher,
    interruptible,
    reason,
    run_activity,
)

T = TypeVar("T")


class StepFailed(Exception):
    def __init__(self, step: TestStep, message: str) -> None:
        super().__init__(message)
        self.step = step
        self.message = message


class TestSequence:
    """The test failover of one VM — bring-up (preflight, failover -AsTest, connect, start, verify), clean-up and
    its confirmation, production's RPO samples — over whatever runs its activities: the single-VM workflow (on
    the replica site's queue) or a recovery plan (host steps batched per host). Only the replica host is touched.
    ``on_begin`` hears of each step as it starts."""

    __test__ = False

    def __init__(
        self, state: TestFailoverState, execute: Execute, link: Link, *, on_begin: Callable[[str], None]
    ) -> None:
        self.state = state
        self._execute, self._link = execute, link
        self._on_begin = on_begin

    async def bring_up(self) -> None:
        """Raises :class:`StepFailed` at the step that failed (the owner then cleans up)."""
        spec = self.state.spec
        await self._step(TestStep.PREFLIGHT, self._preflight)
        await self._step(TestStep.FAILOVER, self._failover)
        if spec.test_network is not None:
            network = spec.test_network
            await self._step(
                TestStep.CONNECT,
                lambda: self._on_target(
                    FailoverActivities.connect,
                    ConnectInput(host=spec.target.host, vm=self.test_vm(), network=network),
                ),
            )
        await self._step(
            TestStep.START,
            lambda: self._on_target(FailoverActivities.start_vm, HostVM(host=spec.target.host, vm=self.test_vm())),
        )
        await self._step(TestStep.VERIFY, self._verify)

    async def _preflight(self) -> str:
        spec = self.state.spec
        status: ProtectionStatus = await self._link(
            TestFailoverLinks.check_operations, OperationsCheck(vm=spec.vm), f"no other operation holds {spec.vm}"
        )
        await self._on_target(
            FailoverActivities.check_target,
            TargetCheck(host=spec.target.host, vm=spec.vm, network=spec.test_network, failover_ip=spec.failover_ip),
        )
        switch: str = await self._on_target(
            TestFailoverActivities.prepare_replica,
            TestSwitchInput(host=spec.target.host, vm=spec.vm, network=spec.test_network),
        )
        await self.measure(TestStep.PREFLIGHT)
        return f"protection {status.phase.value}; replica ready on {spec.target.host}; {switch}"

    async def _failover(self) -> str:
        spec = self.state.spec
        started: TestStarted = await self._on_target(
            TestFailoverActivities.start,
            TestStart(host=spec.target.host, vm=spec.vm, point=spec.point),
        )
        self.state.test_vm, self.state.point = started.test_vm, started.point
        return f"{started.test_vm} created on {spec.target.host} from {started.point}"

    async def _verify(self) -> str:
        spec = self.state.spec
        verified = await self._on_target(
            FailoverActivities.verify,
            VerifyInput.at_target(spec, self.test_vm()),
        )
        await self.measure(TestStep.VERIFY)
        return verified.describe()

    async def clean_up(self) -> None:
        """Remove the test VM (when it may exist) and confirm that nothing is left on the replica host."""
        s, spec = self.state, self.state.spec
        if TestStep.FAILOVER not in {r.step for r in s.steps}:
            return  # nothing was created (and a test VM found at preflight is someone else's)
        target = HostVM(host=spec.target.host, vm=spec.vm)
        try:
            await self._step(
                TestStep.CLEANUP,
                lambda: self._on_target(TestFailoverActivities.remove, target, HOST_COMMAND),
            )
            await self._step(TestStep.CONFIRM, lambda: self._confirm(target))
        except StepFailed as failed:
            message = (
                f"{failed.step.value}: {failed.message} (remove it by hand: Stop-VMFailover -VMName "
                f"'{spec.vm}' on {spec.target.host})"
            )
            s.error = f"{s.error}; {message}" if s.error else message
            s.failed_step = s.failed_step or failed.step
            return
        await self.measure(TestStep.CONFIRM)

    async def _confirm(self, target: HostVM) -> str:
        left: Leftovers = await self._on_target(TestFailoverActivities.confirm, target)
        self.state.cleaned_up = True
        return left.detail

    async def measure(self, step: TestStep) -> None:
        """One RPO sample of production replication, read on the replica host; never fails the test."""
        spec = self.state.spec
        try:
            measured: Measurement = await self._on_target(
                ProtectionActivities.measure_replication,
                MeasureInput(host=spec.target.host, vm=spec.vm, max_age_s=0),
                MEASURE,
            )
        except (ActivityError, ApplicationError):
            self.state.rpo.add(RpoSample(at=workflow.now(), step=step, rpo_s=None, state="not measured"))
            return
        report = measured.report
        rpo = None
        if report is not None and report.last_replication_time is not None:
            rpo = max((measured.host_time - report.last_replication_time).total_seconds(), 0.0)
        state = f"{report.state.value}/{report.health.value}" if report is not None else "not reported"
        self.state.rpo.add(RpoSample(at=workflow.now(), step=step, rpo_s=rpo, state=state))

    async def _step(self, step: TestStep, action: Callable[[], Awaitable[Any]]) -> None:
        s = self.state
        s.step = step
        record = TestStepRecord(step=step, started_at=workflow.now())
        s.steps.append(record)
        self._on_begin(step.value)
        try:
            result = await action()
        except (ActivityError, ApplicationError) as error:
            record.ended_at, record.outcome = workflow.now(), "failed"
            record.detail = reason(error)
            raise StepFailed(step, record.detail) from None
        record.ended_at, record.outcome = workflow.now(), "done"
        record.detail = result if isinstance(result, str) else _describe(result)

    def test_vm(self) -> str:
        return self.state.test_vm or f"{self.state.spec.vm} - Test"

    async def _on_target(self, method: Callable[..., Awaitable[T]], argument: Any, how: ActivityOptions = STEP) -> T:
        result: T = await self._execute(method, argument, self.state.spec.target, how)
        return result


@workflow.defn(name="TestFailover")
class TestFailoverWorkflow:
    __test__ = False

    @workflow.init
    def __init__(self, request: TestFailoverInput) -> None:
        self.state = request.state or TestFailoverState(
            spec=request.spec, rpo=RpoDuringTest(threshold_s=request.spec.rpo_threshold_s)
        )
        self._publisher = Publisher()
        self._sequence = TestSequence(self.state, self._activity, link, on_begin=self._publish)

    @workflow.query
    def details(self) -> TestFailoverState:
        return self.state

    @workflow.query
    def report(self) -> TestFailoverReport:
        return TestFailoverReport.of(workflow.info().workflow_id, self.state)

    @workflow.update
    async def cleanup(self, request: CleanupRequest) -> str:
        """Remove the test VM now (``hvdr failover test cleanup``); the run confirms it and ends."""
        self.state.cleanup_by = f"clean-up requested by {request.by or 'an operator'}"
        return f"clean-up of the test failover of {self.state.spec.vm} requested"

    @cleanup.validator
    def _cleanup_allowed(self, request: CleanupRequest) -> None:
        s = self.state
        if s.outcome != "running" or s.step in (TestStep.CLEANUP, TestStep.CONFIRM):
            raise ValueError(f"the test failover of {s.spec.vm} is already cleaning up or over ({s.step.value})")
        if s.cleanup_by is not None:
            raise ValueError(f"the test failover of {s.spec.vm} is already to be cleaned up ({s.cleanup_by})")

    @workflow.run
    async def run(self, request: TestFailoverInput) -> TestFailoverReport:
        s = self.state
        try:
            if s.step is not TestStep.KEEP:  # a continued run resumes in the keep
                await self._sequence.bring_up()
            await self._keep()
        except StepFailed as failed:
            s.error, s.failed_step = f"{failed.step.value}: {failed.message}", failed.step
            s.cleanup_by = s.cleanup_by or f"the run, because {failed.step.value} failed"
        except asyncio.CancelledError:  # `temporal workflow cancel`: what was created is removed all the same
            record = s.steps[-1] if s.steps else None
            if record is not None and record.outcome == "running":
                record.ended_at, record.outcome, record.detail = workflow.now(), "failed", "the run was cancelled"
            s.error, s.failed_step = f"{s.step.value}: the run was cancelled", s.step
            s.cleanup_by = "the run, because it was cancelled"
        await self._sequence.clean_up()
        if s.error is None and s.cleaned_up:
            s.outcome = "succeeded"
        else:
            s.outcome = "failed"
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._finish()

    async def _keep(self) -> None:
        """Keep the test VM until the keep time ends or an operator asks for the clean-up, measuring the RPO."""
        s, spec = self.state, self.state.spec
        if s.step is not TestStep.KEEP:
            s.step = TestStep.KEEP
            s.steps.append(TestStepRecord(step=TestStep.KEEP, started_at=workflow.now()))
            if spec.keep_s is not None:
                s.keep_until = workflow.now() + timedelta(seconds=spec.keep_s / spec.time_scale)
        record = s.steps[-1]
        until = f"until {s.keep_until:%Y-%m-%d %H:%M:%S} UTC" if s.keep_until else "until `hvdr failover test cleanup`"
        self._publish(f"{s.test_vm} kept on {spec.test_network or 'no network'} {until}")
        interval = timedelta(seconds=spec.rpo_sample_s / spec.time_scale)
        ticks = 0
        while s.cleanup_by is None:
            now = workflow.now()
            if s.keep_until is not None and now >= s.keep_until:
                s.cleanup_by = "the --keep time ran out"
                break
            if ticks >= spec.ticks_per_run or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if s.cleanup_by is None:
                    workflow.continue_as_new(TestFailoverInput(spec=spec, state=s))
                break
            wait = interval if s.keep_until is None else min(interval, s.keep_until - now)
            try:
                await workflow.wait_condition(lambda: s.cleanup_by is not None, timeout=wait)
            except TimeoutError:
                ticks += 1  # a clean-up never waits behind a replica host that does not answer a measurement
                await interruptible(self._sequence.measure(TestStep.KEEP), lambda: s.cleanup_by is not None)
        record.ended_at, record.outcome = workflow.now(), "done"
        record.detail = f"kept {(record.ended_at - record.started_at).total_seconds():.0f} s; ended by {s.cleanup_by}"

    # -- helpers ----------------------------------------------------------------------------------------------

    def _publish(self, what: str) -> None:
        s = self.state
        self._publisher.attributes((HVDR_PHASE, s.step.value))
        self._publisher.details(f"**{s.spec.vm}** test failover on {s.spec.target.host}: {what}")

    def _finish(self) -> TestFailoverReport:
        s = self.state
        self._publisher.attributes((HVDR_PHASE, "done" if s.outcome == "succeeded" else "failed"))
        error = f" — {s.error}" if s.error else ""
        cleaned = "cleaned up" if s.cleaned_up else "NOT cleaned up"
        self._publisher.details(f"**{s.spec.vm}**: test failover {s.outcome}, {cleaned}{error}")
        return TestFailoverReport.of(workflow.info().workflow_id, s)

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
