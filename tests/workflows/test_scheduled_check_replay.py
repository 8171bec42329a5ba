"""Determinism guard: the committed history of a real scheduled readiness check (the schedule check/estate over the
lab, a test switch missing on a recovery host; recorded by tests/e2e/test_drill_lab.py with
``HVDR_RECORD_HISTORIES=1``) must replay on today's ScheduledCheck workflow code. Gate a change with
``workflow.patched()``."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from hvdr.workflows.readiness import ScheduledCheckWorkflow

HISTORY = Path(__file__).parent / "histories" / "scheduled_check.json"


async def test_committed_scheduled_check_history_replays() -> None:
    text = HISTORY.read_text(encoding="utf-8")
    history = WorkflowHistory.from_json("readiness/estate", text)
    activities = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events]
    assert next(a for a in activities if a) == "check_resolve"
    assert {a for a in activities if a} == {"check_resolve", "read_host_readiness"}
    assert "readiness/estate-" in json.dumps(json.loads(text))  # an occurrence of the schedule
    assert any(e.HasField("upsert_workflow_search_attributes_event_attributes") for e in history.events)
    replayer = Replayer(workflows=[ScheduledCheckWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
