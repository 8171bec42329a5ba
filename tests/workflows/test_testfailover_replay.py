"""Determinism guard: the committed history of a real test failover (db-01 over the lab: test VM created,
connected, started, verified, kept, cleaned up on request, confirmed; recorded by
tests/e2e/test_testfailover_lab.py with ``HVDR_RECORD_HISTORIES=1``) must replay on today's workflow code. A change
that would break test failovers in flight (kept for days) fails here; gate it with ``workflow.patched()``."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from hvdr.workflows.testfailover import TestFailoverWorkflow

TEST_FAILOVER_HISTORY = Path(__file__).parent / "histories" / "test_failover.json"


async def test_committed_test_failover_history_replays() -> None:
    history = WorkflowHistory.from_json("testfailover/db-01", TEST_FAILOVER_HISTORY.read_text(encoding="utf-8"))
    kinds = {event.activity_task_scheduled_event_attributes.activity_type.name for event in history.events}
    assert {
        "testfailover_check_operations",
        "testfailover_start",
        "failover_start_vm",
        "failover_verify",
        "measure_replication",
        "testfailover_remove",
        "testfailover_confirm",
    } <= kinds
    updates = [e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert len(updates) == 1, "the operator's clean-up"
    replayer = Replayer(workflows=[TestFailoverWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
