"""The whole path: client → Temporal → workflow worker → the site's activity worker."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.testing import WorkflowEnvironment

from hvdr.client import Client
from hvdr.errors import HvdrError
from hvdr.settings import Settings
from hvdr.visibility import HVDR_KIND, HVDR_SITE
from hvdr.worker.run import build_workers, run_workers


async def test_ping_runs_on_the_sites_worker(env: WorkflowEnvironment, settings_for: Settings) -> None:
    client = Client(env.client, settings_for)
    stop = asyncio.Event()
    serving = asyncio.create_task(run_workers(build_workers(env.client, ["site-a", "site-b"]), stop))
    try:
        result = await client.ping("site-b")
    finally:
        stop.set()
        await serving
    assert result.site == "site-b"
    assert result.reply.task_queue == "hvdr-site-site-b"
    assert result.round_trip_ms > 0
    assert result.workflow_id.startswith("ping/site-b/")
    description = await env.client.get_workflow_handle(result.workflow_id).describe()
    assert description.typed_search_attributes.get(HVDR_KIND) == "ping"
    assert description.typed_search_attributes.get(HVDR_SITE) == "site-b"


async def test_ping_without_a_site_worker_says_which_to_start(env: WorkflowEnvironment, settings_for: Settings) -> None:
    client = Client(env.client, settings_for)
    stop = asyncio.Event()
    serving = asyncio.create_task(run_workers(build_workers(env.client, ["site-a"]), stop))
    try:
        with pytest.raises(HvdrError, match=r"no worker serves site 'site-z'.*hvdr worker --site site-z"):
            await client.ping("site-z")
    finally:
        stop.set()
        await serving
