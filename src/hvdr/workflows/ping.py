"""PingWorkflow: one activity on the site's task queue, proving the whole path works."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from hvdr.activities.ping import ping_site
    from hvdr.models import PingReply, PingRequest
    from hvdr.settings import site_task_queue


@workflow.defn(name="Ping")
class PingWorkflow:
    @workflow.run
    async def run(self, request: PingRequest) -> PingReply:
        workflow.set_current_details(f"waiting for a worker of site **{request.site}** to answer")
        reply = await workflow.execute_activity(
            ping_site,
            request,
            task_queue=site_task_queue(request.site),
            schedule_to_start_timeout=timedelta(seconds=30),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
            summary=f"ping site {request.site}",
        )
        workflow.set_current_details(f"site **{request.site}** answered from {reply.worker_host}")
        return reply
