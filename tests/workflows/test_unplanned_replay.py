"""Determinism guard: the committed history of a real unplanned failover (db-01 after site-a was lost: refused
fence, forced, committed; recorded by tests/e2e/test_unplanned_lab.py with ``HVDR_RECORD_HISTORIES=1``) must
replay on today's workflow code. A change that would break runs in flight fails here; gate it with
``workflow.patched()``."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from hvdr.workflows.unplanned import RecoveryPointsWorkflow, ReverseReplicationWorkflow, UnplannedFailoverWorkflow

UNPLANNED_HISTORY = Path(__file__).parent / "histories" / "unplanned_failover.json"
REVERSE_HISTORY = Path(__file__).parent / "histories" / "reverse_replication.json"
POINTS_HISTORY = Path(__file__).parent / "histories" / "recovery_points.json"


async def test_committed_unplanned_failover_history_replays() -> None:
    history = WorkflowHistory.from_json("failover/db-01", UNPLANNED_HISTORY.read_text(encoding="utf-8"))
    kinds = {event.activity_task_scheduled_event_attributes.activity_type.name for event in history.events}
    assert {"unplanned_probe", "unplanned_fail_over", "failover_verify", "unplanned_complete"} <= kinds
    updates = [e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert len(updates) == 1, "the recording holds the operator's commit"
    replayer = Replayer(workflows=[UnplannedFailoverWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


async def test_reverse_and_recovery_point_histories_replay() -> None:
    """``hvdr reverse`` of db-01 after that failover, and the listing of its recovery points."""
    reverse = WorkflowHistory.from_json("reverse/db-01", REVERSE_HISTORY.read_text(encoding="utf-8"))
    kinds = {event.activity_task_scheduled_event_attributes.activity_type.name for event in reverse.events}
    assert {"unplanned_as_replica", "failover_reverse", "start_initial_replication", "protection_go_on"} <= kinds
    points = WorkflowHistory.from_json("points", POINTS_HISTORY.read_text(encoding="utf-8"))
    replayer = Replayer(
        workflows=[ReverseReplicationWorkflow, RecoveryPointsWorkflow], data_converter=pydantic_data_converter
    )
    await replayer.replay_workflow(reverse)
    await replayer.replay_workflow(points)
