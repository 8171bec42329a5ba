"""Stopping a worker lets the activity it is running finish instead of abandoning it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client as TemporalClient
from temporalio.worker import Worker

from hvdr.activities import options
from hvdr.activities.protection import HostVM
from hvdr.settings import site_task_queue
from hvdr.worker.run import run_workers
from tests.lab.conftest import Shell
from tests.workflows.lab_hosts import A1, B1, LabHosts, SlowTransport, site_workers

started = asyncio.Event()


@activity.defn(name="slow_step")
async def slow_step(seconds: float) -> str:
    started.set()
    await asyncio.sleep(seconds)
    return "finished"


@workflow.defn(name="SlowStep", sandboxed=False)
class SlowStepWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        return str(await workflow.execute_activity(slow_step, seconds, start_to_close_timeout=timedelta(seconds=30)))


async def test_stop_drains_running_activities(client: TemporalClient) -> None:
    queue = f"drain-{uuid.uuid4()}"
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[SlowStepWorkflow],
        activities=[slow_step],
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    stop = asyncio.Event()
    serving = asyncio.create_task(run_workers([worker], stop))
    handle = await client.start_workflow(SlowStepWorkflow.run, 1.5, id=f"drain-{uuid.uuid4()}", task_queue=queue)
    await asyncio.wait_for(started.wait(), 10)
    stop.set()
    await serving
    # The activity completed during the drain; the workflow finishes once a worker is back.
    second = Worker(client, task_queue=queue, workflows=[SlowStepWorkflow], activities=[slow_step])
    async with second:
        assert await asyncio.wait_for(handle.result(), 20) == "finished"
    history = await handle.fetch_history()
    attempts = [e for e in history.events if e.HasField("activity_task_started_event_attributes")]
    assert attempts[0].activity_task_started_event_attributes.attempt == 1
    assert len(attempts) == 1, "the activity was interrupted and retried instead of drained"


@workflow.defn(name="SuspendOnce", sandboxed=False)
class SuspendOnceWorkflow:
    @workflow.run
    async def run(self, request: HostVM) -> str:
        info = await workflow.execute_activity(
            "suspend_replication", request, task_queue=site_task_queue("site-a"), **options.COMMAND.kwargs()
        )
        return str(info)


async def test_a_drain_that_runs_out_stops_the_host_command_in_its_thread(
    client: TemporalClient, lab_hosts: Callable[..., LabHosts]
) -> None:
    lab = lab_hosts("db-01", disk_gb=1)
    Shell(lab.backend).protect("db-01", A1, B1)
    slow = lab.use_transport(A1, lambda ps: SlowTransport(ps, 60))
    queue = f"drain-{uuid.uuid4()}"
    workers = site_workers(client, queue, lab, workflows=[SuspendOnceWorkflow], drain=timedelta(seconds=0.5))
    stop = asyncio.Event()
    serving = asyncio.create_task(run_workers(workers, stop))
    handle = await client.start_workflow(
        SuspendOnceWorkflow.run, HostVM(host=A1, vm="db-01"), id=f"drain-{uuid.uuid4()}", task_queue=queue
    )
    await asyncio.wait_for(asyncio.to_thread(slow.started.wait, 10), 15)
    begun = time.monotonic()
    stop.set()
    await asyncio.wait_for(serving, 20)
    assert slow.aborted.is_set() and slow.returned.is_set(), "the WinRM call outlived the worker's drain"
    assert time.monotonic() - begun < 10
    assert lab.calls("Suspend-VMReplication", "db-01") == 0
    await handle.terminate("test done")
