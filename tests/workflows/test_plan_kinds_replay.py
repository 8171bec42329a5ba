"""Determinism guard for plan runs of kind test and unplanned: the committed histories of a test plan cleaned up
on the operator's command, and of an unplanned plan after site-a was lost that ran past a VM that failed to
verify and was committed (recorded by tests/e2e/test_plan_kinds_lab.py with ``HVDR_RECORD_HISTORIES=1``),
replay on today's workflow code."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from hvdr.codec import CONVERTER
from hvdr.workflows.plan import PlanWorkflow

TEST_HISTORY = Path(__file__).parent / "histories" / "plan_test_cleaned_up.json"
UNPLANNED_HISTORY = Path(__file__).parent / "histories" / "plan_unplanned_committed.json"
TEST_DRY_RUN_HISTORY = Path(__file__).parent / "histories" / "plan_test_dry_run.json"
UNPLANNED_DRY_RUN_HISTORY = Path(__file__).parent / "histories" / "plan_unplanned_dry_run_refused.json"


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


async def test_dry_runs_of_test_and_unplanned_plans_replay() -> None:
    """A test plan's dry run, and an unplanned plan's after site-a was lost, refused without --force: read-only
    checks of the kind (no state-changing step is scheduled)."""
    replayer = Replayer(workflows=[PlanWorkflow], data_converter=CONVERTER)
    for path, steps in (
        (TEST_DRY_RUN_HISTORY, {"failover_check_target", "testfailover_prepare_replica"}),
        (UNPLANNED_DRY_RUN_HISTORY, {"unplanned_check_replica", "unplanned_probe"}),
    ):
        history = WorkflowHistory.from_json("plan/three-tier/1", path.read_text(encoding="utf-8"))
        batched = set()
        for event in history.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                batched.add(event.user_metadata.summary.data.decode().strip('"').split(" ")[0])
        assert steps <= batched, (path.name, batched)
        await replayer.replay_workflow(history)
