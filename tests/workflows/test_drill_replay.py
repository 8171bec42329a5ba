"""Determinism guard: the committed history of a real scheduled drill (plan drill-pair over the lab: db-01, then
app-01, each a child TestFailover run, then the outcome recorded; recorded by tests/e2e/test_drill_lab.py with
``HVDR_RECORD_HISTORIES=1``) must replay on today's Drill workflow code. Gate a change with ``workflow.patched()``."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from hvdr.workflows.drill import DrillWorkflow

DRILL_HISTORY = Path(__file__).parent / "histories" / "drill.json"


async def test_committed_drill_history_replays() -> None:
    text = DRILL_HISTORY.read_text(encoding="utf-8")
    history = WorkflowHistory.from_json("drill/drill-pair", text)
    activities = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events]
    assert [a for a in activities if a] == ["drill_resolve", "drill_record"]
    children = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert children == ["testfailover/db-01", "testfailover/app-01"], "one group after the other"
    assert "drill/drill-pair-" in json.dumps(json.loads(text))  # an occurrence of the schedule
    replayer = Replayer(workflows=[DrillWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
