"""Determinism guard: committed histories of real protection runs must replay on today's workflow code.

A change to ProtectionWorkflow that would break runs already in flight (a new activity before an old one, a
timer moved…) fails here; gate such a change with ``workflow.patched()``. To record the histories again after
a deliberate, patched change: ``HVDR_RECORD_HISTORIES=1 pytest tests/workflows/test_replay.py``.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from hvdr.protection import DisableRequest, Phase, ResyncRequest
from hvdr.workflows.protection import ProtectionWorkflow
from tests.workflows.lab_hosts import LabHosts, lab_topology
from tests.workflows.test_protection import _spec, _start, _until, _workers

HISTORIES = Path(__file__).parent / "histories"
LIFECYCLE = HISTORIES / "protection_lifecycle.json"


async def _record(client: TemporalClient, env: WorkflowEnvironment) -> str:
    lab = LabHosts(lab_topology(["db-01"], disk_gb=2))
    queue = f"tq-{uuid.uuid4()}"
    workers = _workers(client, queue, lab)
    async with workers[0], workers[1], workers[2]:
        handle = await _start(client, queue, _spec("db-01"))
        await _until(handle, Phase.REPLICATING, env)
        await env.sleep(timedelta(minutes=20))
        await handle.execute_update(ProtectionWorkflow.pause)
        await handle.execute_update(ProtectionWorkflow.resume)
        await handle.execute_update(ProtectionWorkflow.resync, ResyncRequest())
        partition = lab.partition()
        await env.sleep(timedelta(minutes=40))
        lab.heal(partition)
        await env.sleep(timedelta(minutes=10))
        await handle.execute_update(ProtectionWorkflow.disable, DisableRequest())
        await handle.result()
        return (await handle.fetch_history()).to_json()


@pytest.mark.skipif(not os.environ.get("HVDR_RECORD_HISTORIES"), reason="records only when asked to")
async def test_record_histories(time_env: WorkflowEnvironment) -> None:
    LIFECYCLE.write_text(await _record(time_env.client, time_env), encoding="utf-8")


async def test_committed_protection_history_replays() -> None:
    history = WorkflowHistory.from_json("protect/db-01", LIFECYCLE.read_text(encoding="utf-8"))
    assert len(history.events) > 50, "the committed history should cover the whole lifecycle"
    replayer = Replayer(workflows=[ProtectionWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
