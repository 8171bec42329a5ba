"""CheckWorkflow (``check/<id>``): read every host of the check on its site's worker, then compare with the
inventory (:func:`hvdr.readiness.evaluate`). ScheduledCheckWorkflow (``readiness/<scope>-<time>``, started by the
schedule ``check/<scope>``): the same check, what to check resolved from the inventory when it fires, its
findings raised as alerts."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from hvdr.activities import options
    from hvdr.activities.readiness import CheckLinks, ReadinessActivities, ResolveCheck
    from hvdr.readiness import (
        MAX_ALERT_FINDINGS,
        CheckReport,
        CheckRequest,
        HostFacts,
        HostRead,
        ReadinessAlerts,
        ScheduledCheckInput,
        Severity,
        check_schedule_id,
        evaluate,
    )
    from hvdr.settings import WORKFLOW_TASK_QUEUE, site_task_queue
    from hvdr.visibility import HVDR_PHASE

from hvdr.workflows.kit import Publisher, readiness_findings, reason

READ = dataclasses.replace(options.MEASURE, start_to_close=timedelta(minutes=10))
"""A measurement's timeouts and retries, with room for a host of many VMs (one read per replicating VM)."""
RESOLVE = RetryPolicy(maximum_attempts=5, non_retryable_error_types=["UnknownScope"])


async def check(request: CheckRequest) -> CheckReport:
    """Read every host of the request on its site's worker and compare (the whole check, in a workflow)."""
    reads = request.host_reads()
    workflow.set_current_details(f"reading {len(reads)} host(s)")
    facts = await asyncio.gather(*(_read(read) for read in reads))
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


async def _read(read: HostRead) -> HostFacts:
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


@workflow.defn(name="Check")
class CheckWorkflow:
    @workflow.run
    async def run(self, request: CheckRequest) -> CheckReport:
        return await check(request)


@workflow.defn(name="ScheduledCheck")
class ScheduledCheckWorkflow:
    """Where its findings surface: ``hvdr status`` shows each as an alert of the VM it concerns (the VM, or one of
    its hosts) — the ``readiness`` memo, read until a later run of the schedule no longer finds it; the run's
    ``HvdrPhase`` is ``ready`` or ``not-ready`` (UI query ``HvdrKind = 'check' AND HvdrPhase = 'not-ready'``); the
    worker logs each error at WARNING; the gauge ``hvdr_readiness_findings`` (scope, severity) goes over OTLP."""

    @workflow.run
    async def run(self, scope: ScheduledCheckInput) -> CheckReport:
        publisher = Publisher()
        check_id = workflow.info().workflow_id.replace("/", "-")
        try:
            request: CheckRequest = await workflow.execute_activity_method(
                CheckLinks.resolve,
                ResolveCheck(check_id=check_id, scope=scope),
                task_queue=WORKFLOW_TASK_QUEUE,
                summary=f"resolve what to check ({scope.scope})",
                start_to_close_timeout=timedelta(seconds=120),
                retry_policy=RESOLVE,
            )
        except ActivityError as error:
            publisher.attributes((HVDR_PHASE, "failed"))
            raise ApplicationError(f"cannot resolve what to check: {reason(error)}") from None
        report = await check(request)
        errors = len(report.errors)
        warnings = len(report.findings) - errors
        ranked = sorted(report.findings, key=lambda f: f.severity is not Severity.ERROR)
        alerts = ReadinessAlerts(
            schedule_id=check_schedule_id(scope.scope),
            check_id=report.check_id,
            checked_at=report.checked_at,
            ready=report.ready,
            errors=errors,
            warnings=warnings,
            findings=ranked[:MAX_ALERT_FINDINGS],
            omitted=max(0, len(ranked) - MAX_ALERT_FINDINGS),
        )
        workflow.upsert_memo({"readiness": alerts.model_dump(mode="json")})
        publisher.attributes((HVDR_PHASE, "ready" if report.ready else "not-ready"))
        for finding in report.errors:
            workflow.logger.warning(
                "readiness %s: %s %s: %s (fix: %s)",
                scope.scope,
                finding.check,
                finding.subject,
                finding.message,
                finding.fix,
            )
        readiness_findings(scope.scope, errors, warnings)
        return report
