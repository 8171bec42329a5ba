"""Stopping a worker lets the activity it is running finish instead of abandoning it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client as TemporalClient
from temporalio.worker import Worker

from hvdr.worker.run import run_workers

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
