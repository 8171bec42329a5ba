"""Determinism guard: the committed history of a real plan run (ten VMs in three groups over the lab's WinRM,
recorded by ``bench/plan_scale.py --vms 10 --record …``) must replay on today's PlanWorkflow code; a change that
would break plan runs in flight fails here (gate it with ``workflow.patched()``). Append-only: a new scenario
gets a new file."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from hvdr.workflows.plan import PlanWorkflow

PLAN_HISTORY = Path(__file__).parent / "histories" / "plan_bench_10.json"


async def test_committed_plan_history_replays() -> None:
    history = WorkflowHistory.from_json("plan/bench/1", PLAN_HISTORY.read_text(encoding="utf-8"))
    kinds = {event.activity_task_scheduled_event_attributes.activity_type.name for event in history.events}
    assert kinds - {""} == {"plan_host_step", "plan_links"}
    replayer = Replayer(workflows=[PlanWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
