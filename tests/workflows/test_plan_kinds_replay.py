"""Determinism guard for plan runs of kind test and unplanned: the committed histories of a test plan cleaned up
on the operator's command, and of an unplanned plan after site-a was lost that ran past a VM that failed to
verify and was committed (recorded by tests/e2e/test_plan_kinds_lab.py with ``HVDR_RECORD_HISTORIES=1``),
replay on today's workflow code."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from hvdr.workflows.plan import PlanWorkflow

TEST_HISTORY = Path(__file__).parent / "histories" / "plan_test_cleaned_up.json"
UNPLANNED_HISTORY = Path(__file__).parent / "histories" / "plan_unplanned_committed.json"


async def test_test_and_unplanned_plan_histories_replay() -> None:
    replayer = Replayer(workflows=[PlanWorkflow], data_converter=pydantic_data_converter)
    for path, update in ((TEST_HISTORY, "cleanup"), (UNPLANNED_HISTORY, "commit")):
        history = WorkflowHistory.from_json("plan/three-tier/1", path.read_text(encoding="utf-8"))
        accepted = [
            e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            for e in history.events
            if e.HasField("workflow_execution_update_accepted_event_attributes")
        ]
        assert update in accepted, f"the operator's {update} is in {path.name}"
        kinds = {event.activity_task_scheduled_event_attributes.activity_type.name for event in history.events}
        assert "plan_host_step" in kinds
        await replayer.replay_workflow(history)
