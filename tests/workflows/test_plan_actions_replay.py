"""Determinism guard for plan runs with actions: the committed history of a planned plan whose manual step was
approved and whose after-script failed, so the group rolled back before reversing (recorded by
tests/e2e/test_plan_actions_lab.py with ``HVDR_RECORD_HISTORIES=1``), replays on today's workflow code."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from hvdr.workflows.plan import PlanWorkflow

HISTORY = Path(__file__).parent / "histories" / "plan_actions_rolled_back.json"


async def test_committed_plan_with_actions_history_replays() -> None:
    history = WorkflowHistory.from_json("plan/three-tier/1", HISTORY.read_text(encoding="utf-8"))
    kinds = {event.activity_task_scheduled_event_attributes.activity_type.name for event in history.events}
    assert {"plan_run_script", "plan_host_step"} <= kinds
    updates = [e for e in history.events if e.workflow_execution_update_accepted_event_attributes.accepted_request]
    assert updates, "the approval is in the history"
    replayer = Replayer(workflows=[PlanWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
