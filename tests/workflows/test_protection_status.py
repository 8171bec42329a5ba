"""``hvdr status`` from Temporal's visibility: the runs' status memos in one list, unknown rows kept, and VM names
that ignore case — on the local dev server (the time-skipping server has no visibility)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from temporalio.client import Client as TemporalClient
from temporalio.testing import WorkflowEnvironment

from hvdr.client import Client
from hvdr.inventory.apply import apply_topology
from hvdr.inventory.db import session_for
from hvdr.protection import Phase, ProtectionInput, ProtectionStatus
from hvdr.settings import WORKFLOW_TASK_QUEUE, Settings
from hvdr.visibility import search_attributes
from hvdr.workflows.protection import ProtectionWorkflow
from tests.workflows.lab_hosts import LabHosts, site_workers
from tests.workflows.test_protection import _spec


async def _statuses_until(client: Client, names: set[str], ready: set[str]) -> dict[str, ProtectionStatus]:
    deadline = time.monotonic() + 60
    while True:
        rows = {s.vm: s for s in await client.protection_statuses() if s.vm in names}
        if set(rows) == names and all(rows[n].phase is Phase.REPLICATING for n in ready):
            return rows
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.5)


async def test_status_lists_every_run_from_visibility_and_shows_unknown_rather_than_dropping(
    env: WorkflowEnvironment, settings_for: Settings, lab_hosts: Callable[..., LabHosts]
) -> None:
    temporal: TemporalClient = env.client
    client = Client(temporal, settings_for)
    suffix = uuid.uuid4().hex[:6]
    vms = [f"Stat-A-{suffix}", f"stat-b-{suffix}"]
    specs = [_spec(vm, time_scale=60) for vm in vms]
    lab = lab_hosts(*vms, disk_gb=1)
    with session_for(settings_for) as session:  # by-name commands check the inventory
        apply_topology(session, lab.topology)
    ghost = f"ghost-{suffix}"
    workers = site_workers(temporal, WORKFLOW_TASK_QUEUE, lab, workflows=[ProtectionWorkflow])
    async with workers[0], workers[1], workers[2]:
        await client.protect(specs)
        # A run that never publishes a status (no worker polls its queue): listed as unknown, not dropped.
        await temporal.start_workflow(
            "Protection",
            ProtectionInput.new(_spec(ghost)),
            id=f"protect/{ghost}",
            task_queue=f"nobody-{suffix}",
            search_attributes=search_attributes("protection", vm=ghost),
        )
        rows = await _statuses_until(client, {*vms, ghost}, ready=set(vms))
        assert rows[ghost].phase is Phase.UNKNOWN and rows[ghost].error
        assert rows[vms[0]].workflow_id == f"protect/stat-a-{suffix}"
        assert rows[vms[0]].replication_state == "Replicating"

        # The VM name in any case commands the same run.
        paused = await client.pause(vms[0].upper())
        assert paused.phase is Phase.PAUSED
        assert (await client.protection_status(vms[0].lower())).phase is Phase.PAUSED
        deadline = time.monotonic() + 30
        while (await _statuses_until(client, {*vms, ghost}, ready={vms[1]}))[vms[0]].phase is not Phase.PAUSED:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.5)

        for workflow_id in (f"protect/{vm.lower()}" for vm in vms):
            await temporal.get_workflow_handle(workflow_id).terminate("test done")
        await temporal.get_workflow_handle(f"protect/{ghost}").terminate("test done")
