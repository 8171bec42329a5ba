"""Determinism guard: the committed history of a real planned failover (db-01 over the lab, recorded by
tests/e2e/test_failover_lab.py with ``HVDR_RECORD_HISTORIES=1``) must replay on today's workflow code. A change
that would break failovers in flight fails here; gate it with ``workflow.patched()``."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from hvdr.workflows.failover import PlannedFailoverWorkflow

PLANNED_HISTORY = Path(__file__).parent / "histories" / "planned_failover.json"


async def test_committed_planned_failover_history_replays() -> None:
    history = WorkflowHistory.from_json("failover/db-01", PLANNED_HISTORY.read_text(encoding="utf-8"))
    kinds = {event.activity_task_scheduled_event_attributes.activity_type.name for event in history.events}
    assert {"failover_prepare", "failover_start", "failover_reverse", "failover_record_placement"} <= kinds
    replayer = Replayer(workflows=[PlannedFailoverWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
