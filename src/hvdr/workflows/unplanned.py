"""Unplanned failover (``UnplannedFailover``, id ``failover/<vm>``), ``hvdr reverse`` (``ReverseReplication``,
id ``reverse/<vm>``) and the recovery-point listing (``RecoveryPoints``).

The failover needs nothing from the lost site: every step but the fence runs on the replica site's queue, and the
fence's activities may wait only ``fence_wait_s`` for the old site's worker (schedule-to-start), so a dead site is
"not fenced" within a minute instead of holding the run. Only with ``force`` does a run that could not fence go
on; without it the run ends "refused" before it changed anything (the protection run is asked to stand by only
once the old primary answered or the operator forced). After verify the run waits — durably: continue-as-new
with its state when Temporal suggests it, after draining its update handlers — for ``commit`` or ``cancel``
(updates whose validators refuse when nothing waits for a decision), or commits by itself after
``auto_commit_after_s`` once the VM was verified. Cancel reverts the replica (Stop-VMFailover) and ends the run:
another point is tried with a new run. After a commit the protection run keeps standing by until ``hvdr
reverse``, which ends its stand-by in the new direction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from hvdr.activities.failover import ConnectInput, FailoverActivities, PlacementInput, VerifyInput
    from hvdr.activities.protection import HostVM, InitialReplicationInput, ProtectionActivities
    from hvdr.activities.runs import GoOn, RunLinks, StandBy
    from hvdr.activities.unplanned import AsReplicaInput, PointFailover, ReplicaCheck, UnplannedActivities
    from hvdr.failover import Step, StepRecord, failover_workflow_id
    from hvdr.hyperv import models as hv
    from hvdr.protection import Endpoint
    from hvdr.recovery_points import choose_point
    from hvdr.unplanned import (
        RecoveryPoints,
        RecoveryPointsRequest,
        ReverseReport,
        ReverseSpec,
        ReverseStep,
        UnplannedReport,
        UnplannedSpec,
        UnplannedState,
    )
    from hvdr.visibility import HVDR_PHASE, HVDR_SITE

from hvdr.workflows.failover import Execute, Link, _describe
from hvdr.workflows.failover import link as _link
from hvdr.workflows.kit import HOST_COMMAND, STEP, ActivityOptions, Commands, Publisher, drain, reason, run_activity
from hvdr.workflows.kit import step as kit_step

T = TypeVar("T")

FENCE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
TIMED_OUT = "ActivityTimeout"
"""The error type a plan's batch gives its VMs when the batch activity timed out (its host's site is gone)."""


class StepFailed(Exception):
    def __init__(self, step: Step, message: str, error: ActivityError | ApplicationError) -> None:
        super().__init__(message)
        self.step, self.message, self.error = step, message, error


def fence_options(wait_s: float) -> ActivityOptions:
    """A step on the old primary: its site's worker gets ``wait_s`` to take it up (it may be lost with its site).
    One object per wait, so a plan's VMs of one host share a batch."""
    cached = _FENCE_OPTIONS.get(wait_s)
    if cached is None:
        kind = replace(STEP.kind, schedule_to_start=timedelta(seconds=wait_s), retry=FENCE_RETRY)
        cached = _FENCE_OPTIONS[wait_s] = ActivityOptions(kind)
    return cached


_FENCE_OPTIONS: dict[float, ActivityOptions] = {}


class UnplannedSequence:
    """The unplanned failover of one VM up to the operator's decision, and the decision itself, over whatever
    runs its activities: the single-VM workflow (activities on the site queues) or a recovery plan (host steps
    batched per host). ``on_begin`` hears of each step as it starts; ``lost`` maps an old primary host found
    unreachable to why, so a plan waits for a lost site once per host, not once per VM."""

    def __init__(
        self,
        state: UnplannedState,
        execute: Execute,
        link: Link,
        *,
        on_begin: Callable[[Step], None] = lambda _: None,
        lost: dict[str, str] | None = None,
    ) -> None:
        self.state = state
        self._execute, self._link_call = execute, link
        self._on_begin = on_begin
        self._lost = {} if lost is None else lost

    async def bring_up(self) -> None:
        """Preflight, fence, fail over, connect, start, verify; the VM then waits for commit or cancel
        (outcome ``waiting``), or the run ends refused or failed before anything moved."""
        s = self.state
        try:
            await self._step(Step.PREFLIGHT, self._preflight)
            if not await self._fence():
                return
            await self._step(Step.FAILOVER, self._fail_over)
        except StepFailed as failed:
            s.error, s.failed_step, s.outcome = f"{failed.step.value}: {failed.message}", failed.step, "failed"
            await self.go_on(replicating=not s.fenced)
            return
        await self._start()
        s.outcome = "waiting"

    async def _start(self) -> None:
        """Connect, start, verify. A failure leaves the failed-over copy for the operator: cancel (and try another
        point) or commit anyway; the run never auto-commits a copy it could not verify."""
        s, spec = self.state, self.state.spec
        try:
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
        except StepFailed as failed:
            s.error, s.failed_step = f"{failed.step.value}: {failed.message}", failed.step
            return
        s.verified = True
        if spec.auto_commit_after_s is not None:
            s.auto_commit_at = workflow.now() + timedelta(seconds=spec.auto_commit_after_s)

    # -- the steps --------------------------------------------------------------------------------------------

    async def _preflight(self) -> str:
        s, spec = self.state, self.state.spec
        points: RecoveryPoints = await self._on_target(
            UnplannedActivities.check_replica,
            ReplicaCheck(host=spec.target.host, vm=spec.vm, network=spec.target_network),
        )
        try:
            s.point = choose_point(points.points, spec.point)
        except ValueError as error:
            raise ApplicationError(str(error), type="NoSuchPoint") from None
        when = s.point.time.isoformat() if s.point.time else "unknown time"
        return f"replica ready on {spec.target.host}; recovery point {s.point.id} ({s.point.type}, {when})"

    async def _fence(self) -> bool:
        """The FENCE step: True to go on (fenced, or not fenced and forced); False when refused or conflicting."""
        s, spec = self.state, self.state.spec
        record = self._begin(Step.FENCE)
        lost = self._lost.get(spec.source.host.lower())
        why_not = lost or ""
        answered = False
        if lost is None:
            try:
                await self._on_old_primary(UnplannedActivities.probe, self._source())
                answered = True
            except (ActivityError, ApplicationError) as error:
                why_not = self._unreachable(error)
        if not answered and not spec.force:
            s.fence = f"not fenced: {why_not}"
            s.outcome, s.failed_step = "refused", Step.FENCE
            s.error = (
                f"refused: the old primary {spec.source.host} does not answer ({why_not}), so {spec.vm} may still run "
                f"there; make sure it is off, then repeat with --force"
            )
            self._end(record, "failed", s.fence)
            return False
        try:
            await self._stand_by()
        except StepFailed as failed:
            s.outcome, s.failed_step, s.error = "failed", Step.FENCE, f"fence: {failed.message}"
            self._end(record, "failed", failed.message)
            return False
        if answered:
            try:
                s.fence = await self._on_old_primary(UnplannedActivities.fence, self._source())
                s.fenced = True
            except (ActivityError, ApplicationError) as error:
                why_not = self._unreachable(error)
        if not s.fenced:
            s.fence = f"not fenced: {why_not}" + (" (--force)" if spec.force else "")
            if not spec.force:
                s.outcome, s.failed_step = "refused", Step.FENCE
                s.error = f"refused: could not fence {spec.vm} on {spec.source.host} ({why_not}); repeat with --force"
                self._end(record, "failed", s.fence)
                await self.go_on()
                return False
        self._end(record, "done", s.fence)
        return True

    def _unreachable(self, error: ActivityError | ApplicationError) -> str:
        spec = self.state.spec
        timed_out = isinstance(error, ActivityError) and isinstance(error.cause, ActivityTimeout)
        if timed_out or (isinstance(error, ApplicationError) and error.type == TIMED_OUT):
            why = f"no worker of {spec.source.site} took the step within {spec.fence_wait_s:g} s"
            self._lost[spec.source.host.lower()] = why
            return why
        return reason(error)

    async def _stand_by(self) -> None:
        s, spec = self.state, self.state.spec
        try:
            begun = await self._link(
                RunLinks.stand_by,
                StandBy.model_validate({"vm": spec.vm, "begin": {"operation": workflow.info().workflow_id}}),
                f"protection of {spec.vm} stands by",
            )
        except (ActivityError, ApplicationError) as error:
            raise StepFailed(Step.FENCE, reason(error), error) from None
        if begun is None and not spec.force:
            message = f"{spec.vm} is not protected (no running protection run): --force fails it over anyway"
            raise StepFailed(Step.FENCE, message, ApplicationError(message, type="NotProtected"))
        s.stood_by = begun is not None

    async def _fail_over(self) -> str:
        s, spec = self.state, self.state.spec
        assert s.point is not None
        s.failed_over_at = await self._on_target(
            UnplannedActivities.fail_over_from,
            PointFailover(host=spec.target.host, vm=spec.vm, point=s.point.id, failover_ip=spec.failover_ip),
        )
        return f"failed over to recovery point {s.point.id} at {s.failed_over_at.isoformat()}"

    async def _verify(self) -> str:
        spec = self.state.spec
        verified = await self._on_target(
            FailoverActivities.verify,
            VerifyInput.at_target(spec),
        )
        return verified.describe()

    # -- the decision -----------------------------------------------------------------------------------------

    async def commit(self) -> None:
        """Complete-VMFailover (irreversible), then record where the VM runs; raises the host's error."""
        s, spec = self.state, self.state.spec
        try:
            await self._step(
                Step.COMMIT, lambda: self._on_target(UnplannedActivities.complete, self._target(), HOST_COMMAND)
            )
        except StepFailed as failed:
            raise failed.error from None
        s.outcome = "committed"
        record = self._begin(Step.RECORD)
        try:
            detail = await self._on_target(
                FailoverActivities.record_placement,
                PlacementInput(vm=spec.vm, host=spec.target.host, site=spec.target.site),
            )
            self._end(record, "done", detail)
        except (ActivityError, ApplicationError) as error:
            self._end(record, "failed", reason(error))
            s.error = f"record: {reason(error)} (the VM runs on {spec.target.host}; run `hvdr discover`)"

    async def cancel(self) -> None:
        """Stop-VMFailover on the replica (the copy is off and a replica again); raises the host's error."""
        s = self.state
        try:
            await self._step(
                Step.CANCEL, lambda: self._on_target(FailoverActivities.stop_failover, self._target(), HOST_COMMAND)
            )
        except StepFailed as failed:
            raise failed.error from None
        s.outcome = "cancelled"
        s.undone.append(
            f"cancelled the failover on {s.spec.target.host} (Stop-VMFailover: the copy is off and a replica "
            "again); another recovery point can be tried"
        )
        await self.go_on(replicating=False)

    async def go_on(self, *, replicating: bool = True) -> None:
        s, spec = self.state, self.state.spec
        if not s.stood_by:
            return
        end = {"operation": workflow.info().workflow_id, "replicating": replicating}
        try:
            await self._link(
                RunLinks.go_on, GoOn.model_validate({"vm": spec.vm, "end": end}), f"protection of {spec.vm} goes on"
            )
            s.stood_by = False
        except (ActivityError, ApplicationError) as error:
            message = f"protection did not resume: {reason(error)}"
            s.error = f"{s.error}; {message}" if s.error else message

    # -- helpers ----------------------------------------------------------------------------------------------

    def _begin(self, step: Step) -> StepRecord:
        s = self.state
        s.step = step
        record = StepRecord(step=step, started_at=workflow.now())
        s.steps.append(record)
        self._on_begin(step)
        return record

    @staticmethod
    def _end(record: StepRecord, outcome: Any, detail: str) -> None:
        record.ended_at, record.outcome, record.detail = workflow.now(), outcome, detail

    async def _step(self, step: Step, action: Callable[[], Awaitable[Any]]) -> None:
        record = self._begin(step)
        try:
            async with kit_step(step.value, vm=self.state.spec.vm):
                result = await action()
        except (ActivityError, ApplicationError) as error:
            self._end(record, "failed", reason(error))
            raise StepFailed(step, record.detail, error) from None
        self._end(record, "done", result if isinstance(result, str) else _describe(result))

    def _source(self) -> HostVM:
        return HostVM(host=self.state.spec.source.host, vm=self.state.spec.vm)

    def _target(self) -> HostVM:
        return HostVM(host=self.state.spec.target.host, vm=self.state.spec.vm)

    async def _on_target(self, method: Callable[..., Awaitable[T]], argument: Any, how: ActivityOptions = STEP) -> T:
        result: T = await self._execute(method, argument, self.state.spec.target, how)
        return result

    async def _on_old_primary(self, method: Callable[..., Awaitable[T]], argument: Any) -> T:
        spec = self.state.spec
        result: T = await self._execute(method, argument, spec.source, fence_options(spec.fence_wait_s))
        return result

    async def _link(self, method: Callable[..., Awaitable[T]], argument: Any, summary: str) -> T:
        result: T = await self._link_call(method, argument, summary)
        return result


@workflow.defn(name="UnplannedFailover")
class UnplannedFailoverWorkflow:
    @workflow.init
    def __init__(self, spec: UnplannedSpec, carried: UnplannedState | None = None) -> None:
        self.state = carried or UnplannedState(spec=spec)
        self._commands: Commands[UnplannedReport] = Commands()
        self._publisher = Publisher()
        self._sequence = UnplannedSequence(self.state, self._activity, _link, on_begin=self._publish_step)

    @workflow.query
    def details(self) -> UnplannedState:
        return self.state

    @workflow.query
    def report(self) -> UnplannedReport:
        return UnplannedReport.of_unplanned(workflow.info().workflow_id, self.state)

    # -- the operator's decision ------------------------------------------------------------------------------

    def _decidable(self, what: str) -> None:
        s = self.state
        if s.outcome != "waiting":
            raise ValueError(
                f"nothing to {what}: the unplanned failover of {s.spec.vm} is {s.outcome.replace('_', ' ')}"
                + (f" (at {s.step.value})" if s.outcome == "running" else "")
            )

    @workflow.update
    async def commit(self) -> UnplannedReport:
        return await self._commands.submit("commit", lambda: self._decidable("commit"), self._commit)

    @commit.validator
    def _commit_ok(self) -> None:
        self._decidable("commit")

    @workflow.update
    async def cancel(self) -> UnplannedReport:
        return await self._commands.submit("cancel", lambda: self._decidable("cancel"), self._cancel)

    @cancel.validator
    def _cancel_ok(self) -> None:
        self._decidable("cancel")

    # -- the run ----------------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, spec: UnplannedSpec, carried: UnplannedState | None = None) -> UnplannedReport:
        if carried is None:
            await self._sequence.bring_up()
            if self.state.outcome != "waiting":
                return self._finish()
        await self._wait()
        return self._finish()

    async def _wait(self) -> None:
        s = self.state
        self._publisher.attributes((HVDR_PHASE, "waiting"))
        self._publisher.details(f"**{s.spec.vm}** runs on {s.spec.target.host}: waiting for commit or cancel")
        while s.outcome == "waiting":
            if workflow.info().is_continue_as_new_suggested():
                await drain(self._commands)
                if s.outcome == "waiting":
                    workflow.continue_as_new(args=[s.spec, s])
            if s.auto_commit_at is not None and s.auto_commit_at <= workflow.now():
                await self._auto_commit()
                continue
            timeout = None if s.auto_commit_at is None else s.auto_commit_at - workflow.now()
            try:
                await workflow.wait_condition(self._commands.pending, timeout=timeout)
            except TimeoutError:
                continue
            await self._commands.run_all()
        await drain(self._commands)

    async def _auto_commit(self) -> None:
        try:
            await self._commit()
        except ActivityError:
            self.state.auto_commit_at = None  # the error is in the report; the operator decides now

    async def _commit(self) -> UnplannedReport:
        await self._sequence.commit()
        self._publisher.attributes((HVDR_SITE, self.state.spec.target.site))
        return self.report()

    async def _cancel(self) -> UnplannedReport:
        await self._sequence.cancel()
        return self.report()

    # -- helpers ----------------------------------------------------------------------------------------------

    def _publish_step(self, step: Step) -> None:
        s = self.state
        self._publisher.attributes((HVDR_PHASE, step.value))
        self._publisher.details(f"**{s.spec.vm}** {s.spec.source.host} ⇢ {s.spec.target.host}: {step.value}")

    def _finish(self) -> UnplannedReport:
        s = self.state
        phase = {"committed": "done", "cancelled": "cancelled", "refused": "refused"}.get(s.outcome, "failed")
        self._publisher.attributes((HVDR_PHASE, phase))
        error = f" — {s.error}" if s.error else ""
        self._publisher.details(f"**{s.spec.vm}**: {s.outcome}{error}")
        return self.report()

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


@workflow.defn(name="ReverseReplication")
class ReverseReplicationWorkflow:
    """``hvdr reverse``: -AsReplica on the old primary, -Reverse on the failed-over copy, the initial replication
    per policy, then the protection run monitors the new direction."""

    @workflow.init
    def __init__(self, spec: ReverseSpec) -> None:
        self.result = ReverseReport(
            workflow_id=workflow.info().workflow_id, vm=spec.vm, primary=spec.primary, replica=spec.replica
        )
        self._publisher = Publisher()

    @workflow.query
    def report(self) -> ReverseReport:
        return self.result

    @workflow.run
    async def run(self, spec: ReverseSpec) -> ReverseReport:
        r = self.result
        old, new = spec.replica, spec.primary
        try:
            await self._step(
                "as-replica",
                lambda: self._on(
                    old,
                    UnplannedActivities.as_replica,
                    AsReplicaInput(host=old.host, vm=spec.vm, allowed_primary=new.host),
                ),
            )
            await self._step(
                "reverse", lambda: self._on(new, FailoverActivities.reverse, HostVM(host=new.host, vm=spec.vm))
            )
            await self._step(
                "initial-replication",
                lambda: self._on(
                    new,
                    ProtectionActivities.start_initial_replication,
                    InitialReplicationInput(
                        host=new.host,
                        vm=spec.vm,
                        method=hv.InitialReplicationMethod(spec.initial_method),
                        start_time=spec.initial_start_time,
                        export_path=spec.initial_export_path,
                    ),
                ),
            )
            await self._step("protection", self._protection)
        except ActivityError as error:
            r.outcome, r.error = "failed", f"{r.steps[-1].step}: {reason(error)}"
        else:
            r.outcome = "succeeded"
        self._publisher.attributes((HVDR_PHASE, "done" if r.outcome == "succeeded" else "failed"))
        return r

    async def _protection(self) -> str:
        spec = self.result
        end = {
            "operation": failover_workflow_id(spec.vm),
            "primary": spec.primary.model_dump(),
            "replica": spec.replica.model_dump(),
            "replicating": True,
        }
        done = await _link(RunLinks.go_on, GoOn.model_validate({"vm": spec.vm, "end": end}), "protection goes on")
        if done is None:
            return f"{spec.vm} has no running protection run: protect it (`hvdr protect enable --vm {spec.vm}`)"
        return f"protection monitors {spec.primary.site} → {spec.replica.site}"

    async def _step(self, name: Any, action: Callable[[], Awaitable[Any]]) -> None:
        record = ReverseStep(step=name, started_at=workflow.now())
        self.result.steps.append(record)
        self._publisher.attributes((HVDR_PHASE, name))
        try:
            async with kit_step(str(name)):
                done = await action()
        except ActivityError as error:
            record.ended_at, record.outcome, record.detail = workflow.now(), "failed", reason(error)
            raise
        record.ended_at, record.outcome = workflow.now(), "done"
        record.detail = done if isinstance(done, str) else _describe(done)

    async def _on(self, where: Endpoint, method: Callable[..., Awaitable[T]], argument: Any) -> T:
        return await run_activity(
            method, argument, site=where.site, summary=f"reverse {self.result.vm} on {where.host}", options=HOST_COMMAND
        )


@workflow.defn(name="RecoveryPoints")
class RecoveryPointsWorkflow:
    """Read a replica's recovery points on its site's worker (``hvdr recovery-points``)."""

    @workflow.run
    async def run(self, request: RecoveryPointsRequest) -> RecoveryPoints:
        where = request.replica
        return await run_activity(
            UnplannedActivities.recovery_points,
            HostVM(host=where.host, vm=request.vm),
            site=where.site,
            summary=f"recovery points of {request.vm} on {where.host}",
            options=STEP,
        )
