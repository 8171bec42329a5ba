"""DiscoveryWorkflow: ask every named site's worker what its VMM server (or hosts) report, in parallel."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from hvdr.activities.discovery import DiscoveryActivities
    from hvdr.models import DiscoveredSite, DiscoveryRequest
    from hvdr.settings import site_task_queue


@workflow.defn(name="Discovery")
class DiscoveryWorkflow:
    @workflow.run
    async def run(self, request: DiscoveryRequest) -> list[DiscoveredSite]:
        workflow.set_current_details(f"discovering {', '.join(request.sites)}")
        results = await asyncio.gather(
            *(
                workflow.execute_activity_method(
                    DiscoveryActivities.discover_site,
                    site,
                    task_queue=site_task_queue(site),
                    schedule_to_start_timeout=timedelta(seconds=60),
                    start_to_close_timeout=timedelta(minutes=10),
                    retry_policy=RetryPolicy(maximum_attempts=3),
                    summary=f"discover {site}",
                )
                for site in request.sites
            )
        )
        found = sum(len(r.vms) for r in results)
        workflow.set_current_details(f"found {found} VM copies in {len(results)} site(s)")
        return list(results)
