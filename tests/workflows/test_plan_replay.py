"""Determinism guard: the committed history of a real plan run (ten VMs in three groups over the lab's WinRM,
recorded by ``bench/plan_scale.py --vms 10 --record …``) must replay on today's PlanWorkflow code; a change that
would break plan runs in flight fails here (gate it with ``workflow.patched()``). Append-only: a new scenario
gets a new file."""

from __future__ import annotations

import json
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


FEWER_TRIPS_HISTORY = Path(__file__).parent / "histories" / "plan_fewer_trips_10.json"


async def test_preflight_travels_in_one_round_trip() -> None:
    """Recorded after ``failover-fewer-trips``: each group's preflight (source check, replica check, stand-by)
    is scheduled by one workflow task, and placement and go-on by one; the history replays on today's code, so
    today's code still schedules them so."""
    history = WorkflowHistory.from_json("plan/bench/1", FEWER_TRIPS_HISTORY.read_text(encoding="utf-8"))
    by_task: dict[int, set[str]] = {}
    for event in history.events:
        scheduled = event.activity_task_scheduled_event_attributes
        if scheduled.activity_type.name:
            step = json.loads(scheduled.input.payloads[0].data)["step"]
            by_task.setdefault(scheduled.workflow_task_completed_event_id, set()).add(step)
    together = list(by_task.values())
    preflight = {"failover_check_source", "failover_check_target", "protection_stand_by"}
    assert sum(1 for steps in together if preflight <= steps) == 3  # one per group
    assert sum(1 for steps in together if {"failover_record_placement", "protection_go_on"} <= steps) >= 3
    replayer = Replayer(workflows=[PlanWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
