"""PlanWorkflow (id ``plan/<plan>/<n>``): a recovery plan's groups in order, the VMs of a group in parallel.

Each VM runs the single-VM operation (:class:`hvdr.workflows.failover.FailoverSequence`: preflight, shutdown,
prepare, fail over, connect, start, verify, reverse, record, and its compensation) unchanged; only how its
activities run differs. :class:`Batches` collects, at the end of each workflow activation, every VM that asked
for the same step on the same host, and sends them as one ``plan_host_step`` activity; the protection
stand-by / go-on of many VMs go as one ``plan_links`` activity. VMs that reach a step together travel
together; a VM that is faster or slower simply joins the next batch, so no VM waits for another's step.

Failure semantics (``PlanSpec.on_failure``, see :mod:`hvdr.plan`): the group of a failed VM always finishes;
``stop`` ends the plan there, ``continue`` goes on with the next groups. Actions before and after a group go
through :meth:`PlanWorkflow._actions` (the one hook the plan actions use).

A dry run reads only (source, replica and protection checks, with ``read_only`` so nothing is set), lists every
step of every VM with the reason it would fail, and predicts durations from measured step times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from hvdr.actions import DECIDE_UPDATE, ActionRecord, ActionSpec, Decision, DecisionResult
    from hvdr.activities.failover import FailoverActivities, SourceCheck, TargetCheck
    from hvdr.activities.plan import HostBatch, ItemOutcome, PlanActivities, PlanLinks, activity_name, step_types
    from hvdr.activities.protection import HostVM
    from hvdr.activities.runs import Protected, RunLinks
    from hvdr.activities.testfailover import (
        OperationsCheck,
        TestFailoverActivities,
        TestFailoverLinks,
        TestSwitchInput,
    )
    from hvdr.activities.unplanned import ReplicaCheck, UnplannedActivities
    from hvdr.failover import PLANNED_STEPS, FailoverAddress, FailoverSpec, FailoverState, Step, StepRecord
    from hvdr.plan import (
        CANCEL_UPDATE,
        CLEANUP_UPDATE,
        COMMIT_UPDATE,
        GroupRecord,
        GroupSpec,
        PlanCommand,
        PlanReport,
        PlanSpec,
        PlanState,
        VMRun,
    )
    from hvdr.protection import Endpoint
    from hvdr.recovery_points import choose_point
    from hvdr.settings import WORKFLOW_TASK_QUEUE, site_task_queue
    from hvdr.testfailover import RpoDuringTest, TestFailoverSpec, TestFailoverState
    from hvdr.unplanned import UnplannedSpec, UnplannedState
    from hvdr.visibility import HVDR_PHASE

from hvdr.workflows.actions import Actions
from hvdr.workflows.failover import LINK_RETRY, FailoverSequence
from hvdr.workflows.kit import MEASURE as DRY
from hvdr.workflows.kit import ActivityOptions, Commands, Publisher, drain, reason
from hvdr.workflows.testfailover import StepFailed as TestStepFailed
from hvdr.workflows.testfailover import TestSequence
from hvdr.workflows.unplanned import TIMED_OUT, UnplannedSequence, fence_options

LINKS = "links"
ACTIONS_PATCH = "plan-actions"
"""Runs recorded before the plan actions ran only delays (scripts and manual steps were recorded as skipped) and
ran a group's after-actions once its VMs had reversed."""


@dataclass
class _Pending:
    argument: Any
    future: asyncio.Future[Any]


@dataclass
class _Queue:
    step: str
    queue: str
    host: str
    how: ActivityOptions | None
    items: list[_Pending] = field(default_factory=list)


class Batches:
    """Single-VM activity calls, sent as one batch per (host, step) at the end of the current activation."""

    def __init__(self) -> None:
        self._queues: dict[tuple[str, str, str, int], _Queue] = {}
        self._senders: set[asyncio.Task[None]] = set()
        self.sent = 0

    async def call(
        self,
        method: Callable[..., Awaitable[Any]],
        argument: Any,
        *,
        queue: str,
        host: str,
        how: ActivityOptions | None,
    ) -> Any:
        step = activity_name(method)
        key = (queue, host.lower(), step, id(how))
        pending = _Pending(argument, asyncio.get_running_loop().create_future())
        batch = self._queues.get(key)
        if batch is None:
            batch = self._queues[key] = _Queue(step, queue, host, how)
            sender = asyncio.ensure_future(self._send(key))
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        batch.items.append(pending)
        outcome: ItemOutcome = await pending.future
        if outcome.error is not None:
            raise ApplicationError(outcome.error, type=outcome.error_type, non_retryable=True)
        return step_types(method)[1].validate_python(outcome.result)

    async def _send(self, key: tuple[str, str, str, int]) -> None:
        # Conditions are checked once every coroutine of this activation has run to its next await: by then
        # every VM that asks for this step on this host now has queued.
        await workflow.wait_condition(lambda: True)
        batch = self._queues.pop(key)
        self.sent += 1
        request = HostBatch(step=batch.step, host=batch.host, items=[_dump(p.argument) for p in batch.items])
        summary = f"{batch.step} ×{len(batch.items)} on {batch.host}"
        try:
            if batch.how is None:
                outcomes = await workflow.execute_activity_method(
                    PlanLinks.links,
                    request,
                    task_queue=batch.queue,
                    summary=summary,
                    start_to_close_timeout=timedelta(seconds=60 + len(batch.items)),
                    retry_policy=LINK_RETRY,
                )
            else:
                outcomes = await workflow.execute_activity_method(
                    PlanActivities.host_step,
                    request,
                    task_queue=batch.queue,
                    summary=summary,
                    cancellation_type=batch.how.cancellation,
                    **batch.how.kind.kwargs(),
                )
        except ActivityError as error:
            # A batch that no worker took in time: its site is gone (an unplanned plan's fence tells it so).
            kind = TIMED_OUT if isinstance(error.cause, ActivityTimeout) else "BatchFailed"
            failed = ItemOutcome(error=reason(error), error_type=kind)
            outcomes = [failed] * len(batch.items)
        for pending, outcome in zip(batch.items, outcomes, strict=True):
            pending.future.set_result(outcome)


class _Gate:
    """Where a group's VMs wait, verified at the target, while the group's after-actions run."""

    def __init__(self) -> None:
        self.arrived = 0
        self.decided = False
        self._verdict: str | None = None

    @property
    def verdict(self) -> str | None:
        return self._verdict

    @verdict.setter
    def verdict(self, refused: str | None) -> None:
        self._verdict, self.decided = refused, True

    async def wait(self) -> str | None:
        self.arrived += 1
        await workflow.wait_condition(lambda: self.decided)
        return self._verdict


def _dump(argument: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = argument.model_dump(mode="json")
    return dumped


@workflow.defn(name="Plan", sandboxed=False)
class PlanWorkflow:
    """Not sandboxed: a plan resumes hundreds of VMs' sequences per workflow task, and the sandbox's proxies
    (every module attribute read is checked) made that six times slower — past the SDK's two-second deadlock
    limit at a thousand VMs, after which each eviction replayed a history as slow to replay. The workflow code
    (this module, :mod:`hvdr.workflows.failover`, ``kit``, ``actions``) keeps to the workflow API for time, ids
    and randomness and holds no module state of its own, which is what the sandbox would have checked."""

    @workflow.init
    def __init__(self, spec: PlanSpec) -> None:
        self.state = PlanState(
            spec=spec,
            groups=[GroupRecord(name=g.name) for g in spec.groups],
            vms=[VMRun(group=g.name, state=FailoverState(spec=vm)) for g in spec.groups for vm in g.vms],
        )
        self._test_specs: dict[str, TestFailoverSpec] = {}
        """A dry run's test specs by VM (a dry run records every kind's checks in ``VMRun.state``)."""
        if spec.dry_run:
            tests = [t for g in spec.groups for t in g.tests]
            self._test_specs = {t.vm.lower(): t for t in tests}
        elif spec.kind == "unplanned":
            for run in self.state.vms:
                choices = {"point": spec.point, "force": spec.force, "fence_wait_s": spec.fence_wait_s}
                unplanned = UnplannedSpec.model_validate({**run.state.spec.model_dump(), **choices})
                run.unplanned = UnplannedState(spec=unplanned)
        elif spec.kind == "test":
            tests = [t for g in spec.groups for t in g.tests]
            for run, test in zip(self.state.vms, tests, strict=True):
                run.test = TestFailoverState(spec=test, rpo=RpoDuringTest(threshold_s=test.rpo_threshold_s))
        self._commands: Commands[PlanReport] = Commands()
        self._unplanned: dict[int, UnplannedSequence] = {}
        self._tests: dict[int, TestSequence] = {}
        self._lost: dict[str, str] = {}
        """Old primary hosts found unreachable (unplanned): each is waited for once, not once per VM."""
        self._batches = Batches()
        self._publisher = Publisher()
        self._actions_kit = Actions(
            [a for g in spec.groups for a in (*g.before, *g.after)],
            self.state.actions,
            time_scale=spec.time_scale,
            notify=self._publisher.details,
        )

    @workflow.update(name=DECIDE_UPDATE)
    async def decide(self, decision: Decision) -> DecisionResult:
        """``hvdr approve`` / ``hvdr reject``: decide the manual step the run waits for."""
        return self._actions_kit.decide(decision)

    @decide.validator
    def _check_decision(self, decision: Decision) -> None:
        self._actions_kit.check(decision)

    # -- the operator's decision (unplanned: commit or cancel; test: clean up) ---------------------------------

    def _decidable(self, what: str, kind: str) -> None:
        s = self.state
        if s.spec.kind != kind:
            raise ValueError(f"nothing to {what}: {workflow.info().workflow_id} is a {s.spec.kind} plan run")
        if s.outcome != "waiting" or s.decided is not None:
            now = "running" if s.outcome == "running" else s.outcome.replace("_", " ")
            raise ValueError(
                f"nothing to {what}: {workflow.info().workflow_id} is {now}"
                + (f" ({s.decided})" if s.decided else "")
                + (" — it waits once every group has run" if s.outcome == "running" else "")
            )

    @workflow.update(name=COMMIT_UPDATE)
    async def commit(self, command: PlanCommand) -> PlanReport:
        """``hvdr plan commit``: Complete-VMFailover of every verified VM (one that was not verified is reverted)."""
        return await self._commands.submit(
            "commit", lambda: self._decidable("commit", "unplanned"), lambda: self._decide("commit", command.by)
        )

    @commit.validator
    def _commit_ok(self, command: PlanCommand) -> None:
        self._decidable("commit", "unplanned")

    @workflow.update(name=CANCEL_UPDATE)
    async def cancel(self, command: PlanCommand) -> PlanReport:
        """``hvdr plan cancel``: Stop-VMFailover of every failed-over VM (another point can be tried)."""
        return await self._commands.submit(
            "cancel", lambda: self._decidable("cancel", "unplanned"), lambda: self._decide("cancel", command.by)
        )

    @cancel.validator
    def _cancel_ok(self, command: PlanCommand) -> None:
        self._decidable("cancel", "unplanned")

    @workflow.update(name=CLEANUP_UPDATE)
    async def cleanup(self, command: PlanCommand) -> str:
        """``hvdr plan cleanup``: remove every test VM now; the run confirms it and ends."""
        self.state.decided = f"clean-up requested by {command.by or 'an operator'}"
        return f"clean-up of {workflow.info().workflow_id} requested"

    @cleanup.validator
    def _cleanup_ok(self, command: PlanCommand) -> None:
        self._decidable("clean up", "test")

    @workflow.query
    def details(self) -> PlanState:
        return self.state

    @workflow.query
    def report(self) -> PlanReport:
        return PlanReport.of(workflow.info().workflow_id, self.state)

    @workflow.run
    async def run(self, spec: PlanSpec) -> PlanReport:
        s = self.state
        s.started_at = workflow.now()
        stopped = False
        for index, group in enumerate(spec.groups):
            record = s.groups[index]
            if stopped:
                record.outcome = "skipped"
                continue
            record.started_at, record.outcome = workflow.now(), "running"
            self._publisher.attributes((HVDR_PHASE, group.name))
            failed = not await self._actions(group, "before")
            if not failed:
                failed = not await self._group(group)
                if not self._gated(group):
                    skip = failed and spec.on_failure == "stop"
                    failed = not await self._actions(group, "after", skip=skip) or failed
            record.ended_at = workflow.now()
            record.outcome = "failed" if failed else "done"
            if spec.dry_run:
                record.predicted_s = self._predict_group(group)
            if failed and spec.on_failure == "stop":
                stopped = True
        if spec.kind == "unplanned" and not spec.dry_run:
            await self._wait_for_decision()
        elif spec.kind == "test" and not spec.dry_run:
            await self._keep_then_clean_up()
        s.ended_at = workflow.now()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._finish(stopped)

    # -- groups -----------------------------------------------------------------------------------------------

    async def _group(self, group: GroupSpec) -> bool:
        """Every VM of the group through its operation, in parallel; True when all succeeded."""
        runs = [v for v in self.state.vms if v.group == group.name]
        total = len(runs)
        self._publisher.details(f"**{self.state.spec.plan}** group {group.name}: {total} VMs")
        if self.state.spec.dry_run:
            await asyncio.gather(*(self._dry_run(v) for v in runs))
            return all(v.state.outcome == "succeeded" for v in runs)
        gate = _Gate() if self._gated(group) else None
        tasks = [asyncio.ensure_future(self._bring_up(v, gate)) for v in runs]
        after_ok = True
        if gate is not None:
            # Every VM either waits at the gate (verified at the target, not reversed) or has finished (failed).
            await workflow.wait_condition(lambda: gate.arrived + sum(1 for t in tasks if t.done()) == len(tasks))
            after_ok = await self._after_gate(group, gate, len(tasks))
        await asyncio.gather(*tasks)
        ok = sum(1 for v in runs if v.succeeded)
        self._publisher.details(f"**{self.state.spec.plan}** group {group.name}: {ok}/{total} VMs succeeded")
        return ok == total and after_ok

    async def _after_gate(self, group: GroupSpec, gate: _Gate, total: int) -> bool:
        """A planned group's after-actions run while its VMs run verified at the target, before replication is
        reversed: when one does not succeed, every VM of the group is rolled back (as after a failed step)."""
        if gate.arrived < total and self.state.spec.on_failure == "stop":
            await self._actions_kit.run(
                group.name, "after", group.after, skip="a VM of the group failed; the plan stops"
            )
            gate.verdict = None  # the VMs that made it go on: one VM failing does not stop the others
            return True
        if gate.arrived == 0:
            await self._actions_kit.run(group.name, "after", group.after, skip="no VM of the group failed over")
            gate.verdict = None
            return True
        failed = await self._actions_kit.run(group.name, "after", group.after)
        if failed is None:
            gate.verdict = None
            return True
        gate.verdict = (
            f"the group's after-action {failed.name!r} {failed.outcome.replace('_', ' ')}: {failed.detail}; "
            "replication was not reversed and the VM was rolled back"
        )
        return False

    async def _bring_up(self, run: VMRun, gate: _Gate | None) -> None:
        """The VM through its kind's operation, as far as a plan takes it before the end (unplanned: verified and
        waiting for the plan's commit; test: the test VM kept until the plan's clean-up)."""
        index = id(run)
        if run.unplanned is not None:
            sequence = self._unplanned[index] = UnplannedSequence(
                run.unplanned, self._execute, self._link, lost=self._lost
            )
            await sequence.bring_up()
        elif run.test is not None:
            test = self._tests[index] = TestSequence(run.test, self._execute, self._link, on_begin=lambda _: None)
            try:
                await test.bring_up()
            except TestStepFailed as failed:
                run.test.error, run.test.failed_step = f"{failed.step.value}: {failed.message}", failed.step
                run.test.cleanup_by = f"the run, because {failed.step.value} failed"
                await self._clean_up_test(index)
        else:
            await self._sequence(run, gate).run()

    async def _wait_for_decision(self) -> None:
        """Unplanned: once every group has run, wait for ``hvdr plan commit`` / ``cancel`` (or commit by itself
        after ``auto_commit_after_s``)."""
        s, spec = self.state, self.state.spec
        if not any(v.unplanned is not None and v.unplanned.outcome == "waiting" for v in s.vms):
            return
        s.outcome = "waiting"
        if spec.auto_commit_after_s is not None:
            s.auto_commit_at = workflow.now() + timedelta(seconds=spec.auto_commit_after_s)
        self._publisher.attributes((HVDR_PHASE, "waiting"))
        self._publisher.details(f"**{spec.plan}**: waiting for `hvdr plan commit` or `hvdr plan cancel`")
        while s.decided is None:
            timeout = None if s.auto_commit_at is None else s.auto_commit_at - workflow.now()
            try:
                await workflow.wait_condition(self._commands.pending, timeout=timeout)
            except TimeoutError:
                await self._decide("commit", f"auto-commit after {spec.auto_commit_after_s:g} s")
                continue
            await self._commands.run_all()
        await drain(self._commands)

    async def _decide(self, what: str, by: str) -> PlanReport:
        """Commit every verified VM (reverting one that was not: it never ran verified) or cancel them all; a VM
        whose host refuses keeps the host's words in the report."""
        s = self.state
        s.decided = f"{what} by {by or 'an operator'}" if not by.startswith("auto-commit") else by
        waiting = [i for i, sequence in self._unplanned.items() if sequence.state.outcome == "waiting"]

        async def one(index: int) -> None:
            sequence, state = self._unplanned[index], self._unplanned[index].state
            try:
                if what == "commit" and state.verified:
                    await sequence.commit()
                else:
                    await sequence.cancel()
                    if what == "commit":
                        state.outcome = "failed"
                        state.error = f"{state.error or 'not verified'}; reverted at the plan's commit"
            except (ActivityError, ApplicationError) as error:
                state.error = f"{what}: {reason(error)}"

        await asyncio.gather(*(one(i) for i in waiting))
        if what == "cancel":
            s.outcome = "cancelled"
        return PlanReport.of(workflow.info().workflow_id, s)

    async def _keep_then_clean_up(self) -> None:
        """Test: keep every test VM until ``hvdr plan cleanup`` or the keep time, then remove them all."""
        s, spec = self.state, self.state.spec
        # Brought up and not yet cleaned up (a VM that failed was cleaned up at once, a skipped one never started).
        kept = [i for i, sequence in self._tests.items() if sequence.state.outcome == "running"]
        if kept:
            s.outcome = "waiting"
            if spec.keep_s is not None:
                s.keep_until = workflow.now() + timedelta(seconds=spec.keep_s / spec.time_scale)
            self._publisher.attributes((HVDR_PHASE, "keep"))
            self._publisher.details(f"**{spec.plan}**: {len(kept)} test VMs kept until `hvdr plan cleanup`")
            timeout = None if s.keep_until is None else s.keep_until - workflow.now()
            try:
                await workflow.wait_condition(lambda: s.decided is not None, timeout=timeout)
            except TimeoutError:
                s.decided = "the --keep time ran out"
            s.outcome = "running"
        await asyncio.gather(*(self._clean_up_test(i) for i in kept))

    async def _clean_up_test(self, index: int) -> None:
        sequence = self._tests[index]
        state = sequence.state
        await sequence.clean_up()
        state.outcome = "succeeded" if state.error is None and state.cleaned_up else "failed"

    def _gated(self, group: GroupSpec) -> bool:
        spec = self.state.spec
        return bool(group.after) and spec.kind == "planned" and not spec.dry_run and workflow.patched(ACTIONS_PATCH)

    def _sequence(self, run: VMRun, gate: _Gate | None = None) -> FailoverSequence:
        return FailoverSequence(
            run.state, workflow.info().workflow_id, self._execute, self._link, gate=gate.wait if gate else None
        )

    async def _execute(
        self, method: Callable[..., Awaitable[Any]], argument: Any, where: Endpoint, how: ActivityOptions
    ) -> Any:
        return await self._batches.call(method, argument, queue=site_task_queue(where.site), host=where.host, how=how)

    async def _link(self, method: Callable[..., Awaitable[Any]], argument: Any, summary: str) -> Any:
        return await self._batches.call(method, argument, queue=WORKFLOW_TASK_QUEUE, host=LINKS, how=None)

    async def _actions(self, group: GroupSpec, when: Literal["before", "after"], *, skip: bool = False) -> bool:
        """The group's actions before or after its VMs, in order; False when one did not succeed."""
        actions = group.before if when == "before" else group.after
        if not workflow.patched(ACTIONS_PATCH):
            return await self._actions_v0(group, when, actions, skip=skip)
        why = None
        if skip:
            why = "the group failed and the plan stops"
        elif self.state.spec.dry_run:
            why = "dry run: would run"
        return await self._actions_kit.run(group.name, when, actions, skip=why) is None

    async def _actions_v0(
        self, group: GroupSpec, when: Literal["before", "after"], actions: list[ActionSpec], *, skip: bool
    ) -> bool:
        """Before ACTIONS_PATCH: delays only."""
        ok = True
        for action in actions:
            record = ActionRecord(
                group=group.name, when=when, name=action.name, type=action.type, started_at=workflow.now()
            )
            self.state.actions.append(record)
            if skip or not ok:
                record.outcome, record.detail = "skipped", "the group failed and the plan stops"
            elif self.state.spec.dry_run:
                record.outcome, record.detail = "skipped", f"would run ({action.type})"
            elif action.type == "delay":
                seconds = action.seconds or 0.0
                await workflow.sleep(timedelta(seconds=seconds / self.state.spec.time_scale))
                record.outcome, record.detail = "done", f"waited {seconds:g} s"
            else:
                record.outcome = "skipped"
                record.detail = f"{action.type} actions are not executed by this version of hvdr"
            record.ended_at = workflow.now()
        return ok

    # -- dry run ----------------------------------------------------------------------------------------------

    async def _dry_run(self, run: VMRun) -> None:
        """Read-only checks of the VM's kind, then every step listed with its prediction (or why it would not
        run). Every kind records in ``run.state``: nothing of the operation starts."""
        f = run.state
        spec = f.spec
        started = workflow.now()
        kind = self.state.spec.kind
        if kind == "unplanned":
            problems, notes = await self._dry_unplanned(spec)
            steps = [Step.FENCE, Step.FAILOVER, Step.CONNECT, Step.START, Step.VERIFY, Step.COMMIT]
            network = spec.target_network
        elif kind == "test":
            test = self._test_specs[spec.vm.lower()]
            problems, notes = await self._dry_test(test)
            steps = [Step.FAILOVER, Step.CONNECT, Step.START, Step.VERIFY, Step.CLEANUP]
            network = test.test_network
        else:
            problems, notes = await self._dry_planned(spec)
            steps = [s for s in PLANNED_STEPS if s not in (Step.PREFLIGHT, Step.RECORD)]
            network = spec.target_network
        if network is None:
            steps.remove(Step.CONNECT)
        measured = self._measured(spec.vm)
        f.steps.append(
            StepRecord(
                step=Step.PREFLIGHT,
                started_at=started,
                ended_at=workflow.now(),
                outcome="failed" if problems else "done",
                detail="; ".join(problems or notes),
            )
        )
        for step in steps:
            seconds = measured.get(step.value)
            if problems:
                detail = "would not run: preflight fails"
            else:
                detail = (
                    f"would run (predicted {seconds:.1f} s)" if seconds is not None else "would run (no measurement)"
                )
            f.steps.append(
                StepRecord(step=step, started_at=started, ended_at=started, outcome="skipped", detail=detail)
            )
        if problems:
            f.outcome, f.failed_step, f.error = "failed", Step.PREFLIGHT, f"preflight: {'; '.join(problems)}"
        else:
            f.outcome = "succeeded"
        run.predicted_s = measured.get("total") or (sum(measured.get(s.value, 0.0) for s in steps) or None)

    async def _dry_planned(self, spec: FailoverSpec) -> tuple[list[str], list[str]]:
        """A planned failover's preflight, read-only: source, replica, protection."""
        checks: list[Awaitable[Any]] = [
            self._execute(
                FailoverActivities.check_source,
                SourceCheck(host=spec.source.host, vm=spec.vm, replica_host=spec.target.host),
                spec.source,
                DRY,
            ),
            self._dry_target(spec.target, spec.vm, spec.target_network, spec.failover_ip),
            self._dry_protected(spec.vm),
        ]
        results = await asyncio.gather(*checks, return_exceptions=True)
        problems = [reason(r) for r in results[:2] if isinstance(r, BaseException)]
        problems += [results[2]] if isinstance(results[2], str) else []
        return problems, ["source, replica and protection ready"]

    def _dry_target(
        self, target: Endpoint, vm: str, network: str | None, failover_ip: FailoverAddress | None
    ) -> Awaitable[Any]:
        """The replica host's preflight (replica, network, failover IP), with nothing set."""
        check = TargetCheck(host=target.host, vm=vm, network=network, failover_ip=failover_ip, read_only=True)
        return self._execute(FailoverActivities.check_target, check, target, DRY)

    async def _dry_protected(self, vm: str, *, force: bool = False, hint: str = "") -> str | None:
        """Why the VM's protection stops the operation (``hint``: what would let it go on), or None."""
        try:
            protected = await self._link(RunLinks.protected, Protected(vm=vm), "")
        except (ActivityError, ApplicationError) as error:
            return reason(error)
        if protected is False and not force:
            return f"{vm} is not protected (no running protection run){hint}"
        return None

    async def _dry_unplanned(self, spec: FailoverSpec) -> tuple[list[str], list[str]]:
        """An unplanned failover's preflight, read-only: the replica and its recovery point, whether the old
        primary answers (it would be fenced; without --force an unanswering one refuses), protection."""
        plan = self.state.spec
        checks: list[Awaitable[Any]] = [
            self._execute(
                UnplannedActivities.check_replica,
                ReplicaCheck(host=spec.target.host, vm=spec.vm, network=spec.target_network),
                spec.target,
                DRY,
            ),
            self._execute(
                UnplannedActivities.probe,
                HostVM(host=spec.source.host, vm=spec.vm),
                spec.source,
                fence_options(plan.fence_wait_s),
            ),
            self._dry_protected(spec.vm, force=plan.force, hint=": --force fails it over anyway"),
        ]
        replica, probed, protected = await asyncio.gather(*checks, return_exceptions=True)
        problems: list[str] = []
        notes: list[str] = []
        if isinstance(replica, BaseException):
            problems.append(reason(replica))
        else:
            try:
                point = choose_point(replica.points, plan.point)
                notes.append(f"replica ready on {spec.target.host}; recovery point {point.id} ({point.type})")
            except ValueError as error:
                problems.append(str(error))
        if isinstance(probed, BaseException):
            why = reason(probed)
            if plan.force:
                notes.append(f"the old primary {spec.source.host} does not answer ({why}): would go on (--force)")
            else:
                problems.append(f"the old primary {spec.source.host} does not answer ({why}): refused without --force")
        else:
            notes.append(f"the old primary {spec.source.host} answers: it would be fenced")
        if isinstance(protected, str):
            problems.append(protected)
        return problems, notes

    async def _dry_test(self, test: TestFailoverSpec) -> tuple[list[str], list[str]]:
        """A test failover's preflight, read-only: no other operation on the VM, the replica and the test
        network (nothing is pointed at it)."""
        checks: list[Awaitable[Any]] = [
            self._link(TestFailoverLinks.check_operations, OperationsCheck(vm=test.vm), ""),
            self._dry_target(test.target, test.vm, test.test_network, test.failover_ip),
            self._execute(
                TestFailoverActivities.prepare_replica,
                TestSwitchInput(host=test.target.host, vm=test.vm, network=test.test_network, read_only=True),
                test.target,
                DRY,
            ),
        ]
        results = await asyncio.gather(*checks, return_exceptions=True)
        problems = [reason(r) for r in results if isinstance(r, BaseException)]
        notes = [f"replica ready on {test.target.host}; {results[2]}"] if not problems else []
        return problems, notes

    def _measured(self, vm: str) -> dict[str, float]:
        measured = self.state.spec.measured
        fleet = measured.get("*", {})
        return {**fleet, **measured.get(vm.lower(), {})}

    def _predict_group(self, group: GroupSpec) -> float:
        vms = [v.predicted_s or 0.0 for v in self.state.vms if v.group == group.name]
        measured = self.state.spec.measured.get(f"group:{group.name}", {}).get("total")
        vm_part = measured if measured is not None else max(vms, default=0.0)
        delays = sum(
            (a.seconds or 0.0) / self.state.spec.time_scale for a in (*group.before, *group.after) if a.type == "delay"
        )
        return vm_part if measured is not None else vm_part + delays

    # -- the end ----------------------------------------------------------------------------------------------

    def _finish(self, stopped: bool) -> PlanReport:
        s = self.state
        started = [v for v in s.vms if v.steps]
        if s.spec.dry_run:
            s.outcome = "dry_run"
            s.predicted_s = sum(g.predicted_s or 0.0 for g in s.groups)
            bad = [v.state.spec.vm for v in s.vms if not v.succeeded]
            s.error = f"would fail: {', '.join(bad)}" if bad else None
        elif s.outcome == "cancelled":
            pass
        elif started and all(v.succeeded for v in started) and len(started) == len(s.vms):
            s.outcome = "succeeded"
        elif stopped:
            s.outcome = "stopped"
        elif any(v.succeeded for v in started):
            s.outcome = "partial"
        else:
            s.outcome = "failed"
        if not s.spec.dry_run and s.outcome != "cancelled":
            failed = [v.state.spec.vm for v in s.vms if not v.succeeded]
            what = {"test": "pass the test failover", "unplanned": "fail over and commit"}.get(s.spec.kind, "fail over")
            if failed:
                s.error = f"{len(failed)} of {len(s.vms)} VMs did not {what}: {', '.join(failed[:20])}" + (
                    " …" if len(failed) > 20 else ""
                )
        phase = {"succeeded": "done", "dry_run": "dry-run"}.get(s.outcome, s.outcome)
        self._publisher.attributes((HVDR_PHASE, phase))
        self._publisher.details(f"**{s.spec.plan}**: {s.outcome.replace('_', ' ')}")
        return PlanReport.of(workflow.info().workflow_id, s)
