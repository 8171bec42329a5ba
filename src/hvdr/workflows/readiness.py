"""CheckWorkflow (``check/<id>``): read every host of the check on its site's worker, then compare with the
inventory (:func:`hvdr.readiness.evaluate`)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from hvdr.activities import options
    from hvdr.activities.readiness import ReadinessActivities
    from hvdr.readiness import CheckReport, CheckRequest, HostFacts, HostRead, evaluate
    from hvdr.settings import site_task_queue

READ = dataclasses.replace(options.MEASURE, start_to_close=timedelta(minutes=10))
"""A measurement's timeouts and retries, with room for a host of many VMs (one read per replicating VM)."""


@workflow.defn(name="Check")
class CheckWorkflow:
    @workflow.run
    async def run(self, request: CheckRequest) -> CheckReport:
        reads = request.host_reads()
        workflow.set_current_details(f"reading {len(reads)} host(s)")
        facts = await asyncio.gather(*(self._read(read) for read in reads))
        findings = evaluate(request, list(facts), workflow.now())
        report = CheckReport(
            check_id=request.check_id,
            checked_at=workflow.now(),
            hosts=len(reads),
            vms=len(request.specs),
            plans=len(request.plans),
            findings=findings,
        )
        workflow.set_current_details(f"{len(report.errors)} error(s), {len(findings) - len(report.errors)} warning(s)")
        return report

    async def _read(self, read: HostRead) -> HostFacts:
        try:
            return await workflow.execute_activity_method(
                ReadinessActivities.read_host,
                read,
                task_queue=site_task_queue(read.site),
                **READ.kwargs(),
                summary=f"read {read.host}",
            )
        except ActivityError as exc:  # no worker for the site, or the worker failed: a finding, not a failed check
            cause = str(exc.cause or exc)
            return HostFacts(host=read.host, errors=[f"site {read.site}'s worker did not read it ({cause})"])
