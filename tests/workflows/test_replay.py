"""Determinism guard: every committed history of a protection run must replay on today's workflow code.

The histories are append-only: a history recorded once is never re-recorded or edited, because it stands for
runs that may still be in flight somewhere. ``protection_lifecycle.json`` was recorded before the workflow kit
and replays through ``protection_v1``; the ``protection_kit_*`` ones cover the current code's paths. A change
that would break any of them (a new activity before an old one, a timer moved…) fails here; gate it with
``workflow.patched()`` (README, "Upgrades"). To record the histories a new scenario adds (existing files are
kept): ``HVDR_RECORD_HISTORIES=1 pytest tests/workflows/test_replay.py -k record``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from hvdr.monitor import MonitorInput, Watch, monitor_workflow_id
from hvdr.protection import DisableRequest, InitialCopy, Phase, ResyncRequest
from hvdr.workflows.monitor import MonitorWorkflow
from hvdr.workflows.protection import ProtectionWorkflow
from tests.workflows.lab_hosts import A1, B1, LabHosts, lab_topology, site_workers
from tests.workflows.test_protection import _spec, _until
from tests.workflows.test_protection_intent import Handle, _start

HISTORIES = Path(__file__).parent / "histories"
Scenario = Callable[[Handle, WorkflowEnvironment, LabHosts], Awaitable[None]]


async def _lifecycle(handle: Handle, env: WorkflowEnvironment, lab: LabHosts) -> None:
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


async def _heal(handle: Handle, env: WorkflowEnvironment, lab: LabHosts) -> None:
    await _until(handle, Phase.REPLICATING, env)
    full = lab.backend.add_fault("storage_full", host=B1).id  # replication goes to Error: a heal resumes it
    await env.sleep(timedelta(minutes=20))
    lab.heal(full)
    crash = lab.backend.add_fault("crash", host=A1).id  # the primary's log is lost: resynchronization required
    lab.heal(crash)
    await env.sleep(timedelta(minutes=20))
    await handle.execute_update(ProtectionWorkflow.disable, DisableRequest())
    await handle.result()


async def _failure(handle: Handle, env: WorkflowEnvironment, lab: LabHosts) -> None:
    await _until(handle, Phase.FAILED, env)
    await handle.execute_update(ProtectionWorkflow.disable, DisableRequest())
    await handle.result()


async def _until_replicating_then_disable(handle: Handle, env: WorkflowEnvironment, lab: LabHosts) -> None:
    await _until(handle, Phase.REPLICATING, env)
    await env.sleep(timedelta(minutes=10))
    await handle.execute_update(ProtectionWorkflow.disable, DisableRequest())
    await handle.result()


async def _replicate_an_hour_then_disable(handle: Handle, env: WorkflowEnvironment, lab: LabHosts) -> None:
    await _until(handle, Phase.REPLICATING, env)
    await env.sleep(timedelta(hours=1))
    await handle.execute_update(ProtectionWorkflow.disable, DisableRequest())
    await handle.result()


def _no_replica_server(lab: LabHosts) -> None:
    """hv-b1 stops being a Replica server (and the spec does not let hvdr configure it)."""
    result = lab.transports[B1].run("Set-VMReplicationServer -ReplicationEnabled $false -Confirm:$false")
    assert result.exit_code == 0, result.stderr


SCENARIOS: dict[str, tuple[Scenario, dict[str, Any], Callable[[LabHosts], None] | None]] = {
    "protection_kit_lifecycle": (_lifecycle, {}, None),
    "protection_kit_heal": (_heal, {}, None),
    "protection_kit_failure": (_failure, {}, _no_replica_server),
    "protection_kit_continue_as_new": (_until_replicating_then_disable, {"ticks_per_run": 3}, None),
    "protection_kit_offline_copy": (_until_replicating_then_disable, {"offline": True}, None),
    # Recorded after the host monitor (MONITOR_PATCH): the VM's run waits for wakes; the monitor's runs too.
    "protection_monitor_lifecycle": (_lifecycle, {"monitor": True}, None),
    "protection_monitor_heal": (_heal, {"monitor": True}, None),
    "protection_monitor_continue_as_new": (
        _replicate_an_hour_then_disable,
        {"monitor": True, "ticks_per_run": 3, "monitor_ticks_per_run": 3},
        None,
    ),
}
"""Scenarios marked ``monitor`` also record the host monitor's histories (``monitor_<scenario>*.json``)."""


async def _record(client: TemporalClient, env: WorkflowEnvironment, name: str) -> tuple[list[str], list[str]]:
    """The VM run's histories and (for a ``monitor`` scenario) its host monitor's, each first run first."""
    scenario, options, setup = SCENARIOS[name]
    lab = LabHosts(lab_topology(["db-01"], disk_gb=2))
    if setup is not None:
        setup(lab)
    queue = f"tq-{uuid.uuid4()}"
    spec = _spec("db-01")
    if options.get("offline"):
        spec.policy.initial_replication = InitialCopy(method="offline", export_path="E:\\x", import_path="F:\\x")
    workers = site_workers(client, queue, lab, workflows=[ProtectionWorkflow])
    async with workers[0], workers[1], workers[2]:
        handle = await _start(client, queue, spec, ticks_per_run=options.get("ticks_per_run", 500))
        if "monitor_ticks_per_run" in options:  # the monitor starts first, continuing-as-new every few ticks
            watch = Watch(
                vm="db-01", workflow_id=handle.id, site="site-a", host=A1, frequency_s=300, rpo_alert_threshold_s=900
            )
            await client.start_workflow(
                MonitorWorkflow.run,
                MonitorInput.new(A1, "site-a").model_copy(update={"ticks_per_run": options["monitor_ticks_per_run"]}),
                id=monitor_workflow_id(A1),
                task_queue=queue,
                start_signal="watch",
                start_signal_args=[watch],
            )
        await scenario(handle, env, lab)
        runs = [history async for history in _runs(client, handle)]
        if not options.get("monitor"):
            return runs, []
        monitor = client.get_workflow_handle(monitor_workflow_id(A1))
        return runs, [history async for history in _runs(client, monitor)]


async def _runs(client: TemporalClient, handle: WorkflowHandle[Any, Any]) -> AsyncIterator[str]:
    """Every run's history, the first run first (a continued run's chain, followed backwards)."""
    run_id = (await handle.describe()).run_id
    chain = []
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        chain.append(history.to_json())
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    for history_json in reversed(chain):
        yield history_json


def _with_edited_input(history_json: str, edit: Callable[[dict[str, Any]], None]) -> str:
    """The same history with its start input edited (as if recorded by a newer or older hvdr)."""
    history = json.loads(history_json)
    payload = history["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
    data = json.loads(base64.b64decode(payload["data"]))
    edit(data)
    payload["data"] = base64.b64encode(json.dumps(data).encode()).decode()
    return json.dumps(history)


def _add_fields(data: dict[str, Any]) -> None:
    data["state"]["spec"]["policy"]["bandwidth_limit_mbps"] = 200
    data["state"]["field_from_the_future"] = {"anything": [1, 2]}


def _remove_fields(data: dict[str, Any]) -> None:
    del data["ticks_per_run"]
    del data["state"]["spec"]["policy"]["auto_heal"]
    del data["state"]["initial_copy_started"]


def _save(name: str, history_json: str) -> None:
    path = HISTORIES / f"{name}.json"
    if path.exists():
        return  # append-only: what was recorded stays as it was
    path.write_text(history_json, encoding="utf-8")


@pytest.mark.skipif(not os.environ.get("HVDR_RECORD_HISTORIES"), reason="records only when asked to")
@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_record_histories(time_env: WorkflowEnvironment, name: str) -> None:
    runs, monitor_runs = await _record(time_env.client, time_env, name)
    for prefix, chain in ((name, runs), ("monitor_" + name.removeprefix("protection_monitor_"), monitor_runs)):
        if len(chain) == 1:
            _save(prefix, chain[0])
        elif chain:  # the first run, and one that started from a continue-as-new (the longest: it did most)
            _save(f"{prefix}_first", chain[0])
            _save(f"{prefix}_continued", max(chain[1:], key=len))
    if name == "protection_kit_lifecycle":
        _save("protection_kit_extra_fields", _with_edited_input(runs[0], _add_fields))
        _save("protection_kit_fields_removed", _with_edited_input(runs[0], _remove_fields))


def _committed() -> list[Path]:
    """The protection runs' histories (planned_failover.json is PlannedFailover's: test_failover_replay.py)."""
    return sorted(HISTORIES.glob("protection*.json"))


def test_histories_cover_the_paths_that_must_keep_replaying() -> None:
    names = {p.stem for p in _committed()}
    assert "protection_lifecycle" in names, "the history recorded before the kit is never removed"
    for wanted in (
        "protection_kit_lifecycle",
        "protection_kit_heal",
        "protection_kit_failure",
        "protection_kit_continue_as_new_continued",
        "protection_kit_offline_copy",
        "protection_kit_extra_fields",
        "protection_kit_fields_removed",
        "protection_monitor_lifecycle",
        "protection_monitor_heal",
        "protection_monitor_continue_as_new_continued",
    ):
        assert wanted in names
    monitors = {p.stem for p in _monitors()}
    for wanted in ("monitor_lifecycle", "monitor_heal", "monitor_continue_as_new_continued"):
        assert wanted in monitors


def _monitors() -> list[Path]:
    """The host monitors' histories."""
    return sorted(HISTORIES.glob("monitor*.json"))


@pytest.mark.parametrize("path", _committed(), ids=lambda p: p.stem)
async def test_committed_history_replays(path: Path) -> None:
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    history = WorkflowHistory.from_json(f"protect/{path.stem}", text)
    assert len(history.events) > 20, "a committed history should cover a real piece of a run"
    replayer = Replayer(workflows=[ProtectionWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


@pytest.mark.parametrize("path", _monitors(), ids=lambda p: p.stem)
async def test_committed_monitor_history_replays(path: Path) -> None:
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    history = WorkflowHistory.from_json(f"monitor/{path.stem}", text)
    assert len(history.events) > 20, "a committed history should cover a real piece of a run"
    replayer = Replayer(workflows=[MonitorWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
