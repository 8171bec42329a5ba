"""The readiness check's durable input is its own (``hvdr.readiness.CheckRequest``, no topology models): a committed
history of a Check run replays on today's code, and so do copies of it whose input carries fields this hvdr does
not know (a newer writer, or the topology fields an older one embedded) or lacks later-added ones.

To record (existing files are kept): ``HVDR_RECORD_HISTORIES=1 pytest tests/workflows/test_check_replay.py``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from hvdr.protection import Endpoint, ProtectionPolicy
from hvdr.readiness import CheckReport, CheckRequest, DeclaredVM, MappedNetwork, PlanCheck, PlannedVMs, RecoverySide
from hvdr.workflows.readiness import CheckWorkflow
from tests.workflows.lab_hosts import B1, LabHosts, lab_topology, site_workers
from tests.workflows.test_protection import _spec
from tests.workflows.test_replay import _save, _with_edited_input

HISTORIES = Path(__file__).parent / "histories"
NAMES = ("check", "check_extra_fields", "check_fields_removed")


def _request() -> CheckRequest:
    topology = lab_topology(["db-01"])
    return CheckRequest(
        check_id=f"replay-{uuid.uuid4().hex[:6]}",
        pairings=[
            RecoverySide(
                primary_cloud="cloud-a",
                primary_site="site-a",
                recovery_cloud="cloud-b",
                recovery_site="site-b",
                policy=ProtectionPolicy(name="p", copy_frequency_s=300),
                hosts=[Endpoint(site="site-b", host=B1)],
                mappings=[MappedNetwork(source_network="vSwitch-Prod", target_network="vSwitch-DR")],
            )
        ],
        specs=[_spec("db-01")],
        declared_vms=[DeclaredVM.model_validate(vm) for vm in topology.vms],
        plans=[PlanCheck(plan=PlannedVMs(name="db", groups=[{"name": "g", "vms": ["db-01"]}]), pairing="cloud-a")],  # type: ignore[list-item]
    )


def _add_fields(data: dict[str, Any]) -> None:
    # What a request embedding the topology's models carried, and a field from a newer hvdr.
    data["pairings"][0]["policy"]["excluded_disk_names"] = ["pagefile.vhdx"]
    data["pairings"][0]["mappings"][0]["source_site"] = "site-a"
    data["declared_vms"][0]["disks"] = [{"name": "os.vhdx", "size_gb": 40}]
    data["plans"][0]["plan"]["rto_target_s"] = 900
    data["field_from_the_future"] = {"anything": [1, 2]}


def _remove_fields(data: dict[str, Any]) -> None:
    del data["certificate_days"]
    del data["pairings"][0]["policy"]["drill_max_age_days"]
    del data["pairings"][0]["mappings"]
    del data["declared_vms"][0]["network_adapters"]


@pytest.mark.skipif(not os.environ.get("HVDR_RECORD_HISTORIES"), reason="records only when asked to")
async def test_record_check_history(time_env: WorkflowEnvironment) -> None:
    client, queue = time_env.client, f"tq-{uuid.uuid4()}"
    workers = site_workers(client, queue, LabHosts(lab_topology(["db-01"])), workflows=[CheckWorkflow])
    async with workers[0], workers[1], workers[2]:
        request = _request()
        handle = await client.start_workflow(
            CheckWorkflow.run, request, id=f"check/{request.check_id}", task_queue=queue
        )
        report = await handle.result()
        history = (await handle.fetch_history()).to_json()
    assert isinstance(report, CheckReport) and report.hosts == 2
    assert any(f.subject == "db-01" for f in report.findings), "db-01 is not replicating: the check must say so"
    _save("check", history)
    _save("check_extra_fields", _with_edited_input(history, _add_fields))
    _save("check_fields_removed", _with_edited_input(history, _remove_fields))


@pytest.mark.parametrize("name", NAMES)
async def test_committed_check_history_replays(name: str) -> None:
    text = await asyncio.to_thread((HISTORIES / f"{name}.json").read_text, encoding="utf-8")
    history = WorkflowHistory.from_json(f"check/{name}", text)
    kinds = [event.activity_task_scheduled_event_attributes.activity_type.name for event in history.events]
    assert [k for k in kinds if k] == ["read_host_readiness"] * 2, "one read per host: hv-a1 and hv-b1"
    replayer = Replayer(workflows=[CheckWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


def test_a_check_request_keeps_no_topology_model() -> None:
    """Every model a Check run stores tolerates unknown fields: none is the topology's (``extra="forbid"``)."""
    seen: set[type] = set()

    def walk(model: type) -> None:
        if model in seen or not hasattr(model, "model_fields"):
            return
        seen.add(model)
        assert model.model_config.get("extra") == "ignore", f"{model.__name__} is not a durable payload"
        for field in model.model_fields.values():
            for arg in _types(field.annotation):
                walk(arg)

    walk(CheckRequest)
    walk(CheckReport)
    assert MappedNetwork in seen and ProtectionPolicy in seen


def _types(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", None)
    if args is None:
        return [annotation]
    return [t for a in args for t in _types(a)]
