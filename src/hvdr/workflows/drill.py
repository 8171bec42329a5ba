"""DrillWorkflow (one run per occurrence of the schedule ``drill/<plan>``): a test failover of the plan, group
after group, that leaves its evidence and records its outcome for ``hvdr check``.

resolve (the plan's groups and each VM's test failover spec, from the inventory and the protection runs) → per
group, the VMs' test failovers in parallel as child ``TestFailover`` runs (``testfailover/<vm>``, kept 0 s: each
test VM is verified, removed and its clean-up confirmed before the run ends) → record (the runs table, kind
``drill``). Test failover is not re-implemented here: the child runs are the same runs ``hvdr failover test``
starts, with their guarantees (production never touched, clean-up on any failure, RPO measured throughout).
A group's test VMs are removed before the next group starts; plan actions (scripts, manual steps) are not run by
a drill.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from hvdr.activities.drill import DrillLinks, ResolveDrill
    from hvdr.drill import DrillInput, DrillRecord, DrillReport, DrillTarget, DrillVM, VMEvidence, evidence
    from hvdr.settings import WORKFLOW_TASK_QUEUE
    from hvdr.testfailover import TestFailoverInput, TestFailoverReport, testfailover_workflow_id
    from hvdr.visibility import HVDR_PHASE, search_attributes

from hvdr.workflows.kit import Publisher, drill_outcome, reason

STARTED_BY = "hvdr.startedBy"
LINKS = RetryPolicy(maximum_attempts=5, non_retryable_error_types=["UnknownPlan"])


@workflow.defn(name="Drill")
class DrillWorkflow:
    @workflow.init
    def __init__(self, request: DrillInput) -> None:
        self.state = DrillReport(workflow_id=workflow.info().workflow_id, plan=request.plan)
        self._publisher = Publisher()

    @workflow.query
    def report(self) -> DrillReport:
        return self.state

    @workflow.run
    async def run(self, request: DrillInput) -> DrillReport:
        s = self.state
        s.started_at = workflow.now()
        self._publish("resolve", f"resolving plan **{request.plan}**")
        try:
            target: DrillTarget = await workflow.execute_activity_method(
                DrillLinks.resolve,
                ResolveDrill(plan=request.plan),
                task_queue=WORKFLOW_TASK_QUEUE,
                summary=f"resolve plan {request.plan}",
                start_to_close_timeout=timedelta(seconds=120),
                retry_policy=LINKS,
            )
        except ActivityError as error:
            s.error = reason(error)
            target = DrillTarget(plan=request.plan, groups=[])
        s.rto_target_s = target.rto_target_s
        s.time_scale = next((v.spec.time_scale for g in target.groups for v in g.vms if v.spec), 1.0)
        for group in target.groups:
            self._publish(group.name, f"plan **{request.plan}**: testing group {group.name}")
            s.vms += await asyncio.gather(*(self._test(group.name, vm) for vm in group.vms))
        s.outcome = "succeeded" if s.error is None and s.succeeded else "failed"
        s.ended_at = workflow.now()
        await self._record(request.plan)
        drill_outcome(request.plan, s.outcome)  # a metric: no history event, so recorded drills still replay
        self._publish("done" if s.outcome == "succeeded" else "failed", self._summary())
        return s

    async def _test(self, group: str, vm: DrillVM) -> VMEvidence:
        if vm.spec is None:
            return VMEvidence(vm=vm.vm, group=group, outcome="refused", error=vm.refused)
        spec = vm.spec
        try:
            report: TestFailoverReport = await workflow.execute_child_workflow(
                "TestFailover",
                TestFailoverInput(spec=spec),
                id=testfailover_workflow_id(spec.vm),
                task_queue=WORKFLOW_TASK_QUEUE,
                result_type=TestFailoverReport,
                search_attributes=search_attributes(
                    "testfailover", site=spec.target.site, vm=spec.vm, plan=self.state.plan, phase="preflight"
                ),
                static_summary=f"drill {self.state.plan}: test failover of {spec.vm} on {spec.target.host}",
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            )
        except (ChildWorkflowError, ApplicationError) as error:
            return VMEvidence(vm=spec.vm, group=group, outcome="failed", error=f"test failover: {reason(error)}")
        except WorkflowAlreadyStartedError:
            return VMEvidence(
                vm=spec.vm,
                group=group,
                outcome="failed",
                error=f"a test failover of {spec.vm} is already running ({testfailover_workflow_id(spec.vm)})",
            )
        return evidence(report, group, spec.time_scale)

    async def _record(self, plan: str) -> None:
        s = self.state
        assert s.started_at is not None and s.ended_at is not None
        started_by = workflow.memo_value(STARTED_BY, default="", type_hint=str) or "a schedule"
        try:
            await workflow.execute_activity_method(
                DrillLinks.record,
                DrillRecord(
                    workflow_id=s.workflow_id,
                    plan=plan,
                    started_by=started_by,
                    started_at=s.started_at,
                    finished_at=s.ended_at,
                    outcome=s.outcome,
                    detail=self._summary(),
                ),
                task_queue=WORKFLOW_TASK_QUEUE,
                summary=f"record the drill of {plan}",
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=LINKS,
            )
        except ActivityError as error:
            missing = f"not recorded in the inventory: {reason(error)}"
            s.error = f"{s.error}; {missing}" if s.error else missing
            return
        s.recorded = True

    def _summary(self) -> str:
        s = self.state
        ok = sum(v.outcome == "succeeded" for v in s.vms)
        error = f" — {s.error}" if s.error else ""
        return f"drill of {s.plan} {s.outcome}: {ok}/{len(s.vms)} VM(s) verified and cleaned up{error}"

    def _publish(self, phase: str, details: str) -> None:
        self._publisher.attributes((HVDR_PHASE, phase))
        self._publisher.details(details)
