"""The audit identity: who started, updated or cancelled a run is in the run's history and its memo."""

from __future__ import annotations

import asyncio
import getpass
import socket
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from hvdr.client import STARTED_BY, Client
from hvdr.settings import Settings, load_settings
from hvdr.worker.run import build_workers, run_workers


def test_the_identity_is_the_os_user_unless_one_is_configured(hvdr_home: Path) -> None:
    assert load_settings().identity == f"{getpass.getuser()}@{socket.gethostname()}"
    assert load_settings({"HVDR_HOME": str(hvdr_home), "HVDR_IDENTITY": "alice@dr-team"}).identity == "alice@dr-team"
    (hvdr_home / "config.toml").parent.mkdir(parents=True)
    (hvdr_home / "config.toml").write_text('identity = "ops-bot"\n', encoding="utf-8")
    assert load_settings({"HVDR_HOME": str(hvdr_home)}).identity == "ops-bot"


async def test_the_runs_history_and_memo_name_who_started_and_who_ended_it(
    env: WorkflowEnvironment, settings_for: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HVDR_IDENTITY", "alice@dr-team")
    alice = await Client.connect(load_settings())
    stop = asyncio.Event()
    serving = asyncio.create_task(run_workers(build_workers(env.client, ["site-a"]), stop))
    try:
        result = await alice.ping("site-a")
    finally:
        stop.set()
        await serving
    handle = env.client.get_workflow_handle(result.workflow_id)
    description = await handle.describe()
    assert await description.memo_value(STARTED_BY) == "alice@dr-team"
    history = await handle.fetch_history()
    started = history.events[0]
    assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    assert started.workflow_execution_started_event_attributes.identity == "alice@dr-team"

    monkeypatch.setenv("HVDR_IDENTITY", "bob@dr-team")
    bob = await Client.connect(load_settings())
    started_run = await bob.temporal.start_workflow(
        "Ping", args=[{"site": "nowhere"}], id=f"{result.workflow_id}-2", task_queue="no-worker"
    )
    await bob.temporal.get_workflow_handle(started_run.id).cancel()
    events = [e async for e in bob.temporal.get_workflow_handle(started_run.id).fetch_history_events()]
    [cancel] = [e for e in events if e.HasField("workflow_execution_cancel_requested_event_attributes")]
    assert cancel.workflow_execution_cancel_requested_event_attributes.identity == "bob@dr-team"
    await bob.temporal.get_workflow_handle(started_run.id).terminate("test over")
