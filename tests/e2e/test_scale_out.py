"""Scale-out: two workers per site on the same task queues share the work, and when one dies in the middle of
several failovers — then in the middle of a recovery plan — the other finishes them with no host step sent twice
(the lab's call log)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from hvdr.codec import CONVERTER
from hvdr.inventory.db import session_for
from hvdr.inventory.plan import plan_spec
from hvdr.protection import Endpoint, Phase, protection_workflow_id
from hvdr.topology import RecoveryPlan
from hvdr.worker.hosts import HostDirectory
from hvdr.worker.run import build_workers, run_workers
from tests.e2e.conftest import SPEED, Estate
from tests.e2e.test_failover_lab import _fault, _spec
from tests.e2e.test_protection_lab import _protect

pytestmark = pytest.mark.slow

VMS = ["app-01", "db-02", "web-03"]
PLAN_GROUPS = {"databases": ["db-01"], "front": ["app-02", "web-01"]}
PLAN_VMS = [vm for vms in PLAN_GROUPS.values() for vm in vms]
SITES = ["site-a", "site-b"]
SECOND = "hvdr-worker-b"


@pytest.fixture
async def second_worker(estate: Estate, env: WorkflowEnvironment) -> AsyncIterator[str]:
    """A second worker for both sites (its own client, identity and host directory), as another machine runs it;
    the estate's own workers are restarted with no drain, so stopping them cuts their host commands off."""
    estate.stop_workers.set()
    await asyncio.gather(estate.workers, return_exceptions=True)
    estate.hosts.close()
    _start_first(estate, env)
    client = await TemporalClient.connect(
        env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        data_converter=CONVERTER,
        identity=SECOND,
    )
    hosts, stop = HostDirectory(estate.settings), asyncio.Event()
    task = asyncio.create_task(run_workers(build_workers(client, SITES, hosts=hosts), stop))
    yield SECOND
    stop.set()
    await asyncio.gather(task, return_exceptions=True)
    hosts.close()


def _start_first(estate: Estate, env: WorkflowEnvironment) -> None:
    """The estate's own workers (identity of the session's client), draining nothing when stopped."""
    estate.hosts, estate.stop_workers = HostDirectory(estate.settings), asyncio.Event()
    first = build_workers(env.client, SITES, hosts=estate.hosts, drain_timeout=timedelta(0))
    estate.workers = asyncio.create_task(run_workers(first, estate.stop_workers))


async def _replicating(estate: Estate, vms: list[str], timeout: float = 300) -> None:
    """Every VM replicating, as visibility lists it (no query per run: on a loaded machine they time out)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = [s for s in await estate.client.protection_statuses() if s.vm in vms]
        if len(rows) == len(vms) and all(
            s.phase is Phase.REPLICATING and s.replication_state == "Replicating" for s in rows
        ):
            return
        assert time.monotonic() < deadline, [(s.vm, s.phase, s.replication_state) for s in rows]
        await asyncio.sleep(1.0)


async def _activity_identities(handle: WorkflowHandle[object, object]) -> set[str]:
    history = await handle.fetch_history()
    return {
        e.activity_task_started_event_attributes.identity
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    }


async def _running_on(handles: list[WorkflowHandle[object, object]], identity: str) -> str:
    """Wait until one of the runs has a host command in flight on the worker of ``identity``; its activity."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for handle in handles:
            description = (await handle.describe()).raw_description
            for pending in description.pending_activities:
                if (
                    pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                    and pending.last_worker_identity == identity
                    and pending.activity_type.name.startswith("failover_")
                ):
                    return f"{handle.id}: {pending.activity_type.name}"
        await asyncio.sleep(0.02)
    raise AssertionError(f"no failover activity ran on {identity}")


async def test_two_workers_share_the_work_and_the_survivor_finishes_with_no_host_step_twice(
    estate: Estate, env: WorkflowEnvironment, second_worker: str
) -> None:
    first = env.client.identity
    await _protect(estate, vms=VMS + PLAN_VMS)
    await _replicating(estate, VMS + PLAN_VMS)
    specs = [_spec(estate, vm) for vm in VMS]
    for source in {spec.source.host for spec in specs}:  # a shutdown long enough to die in the middle of
        _fault(estate, "cmdlet_latency", host=source, cmdlet="Stop-VM", seconds=2.0)
    ids = [await estate.client.start_planned_failover(spec) for spec in specs]
    handles = [estate.client.temporal.get_workflow_handle(i) for i in ids]

    cut_off = await _running_on(handles, first)
    await estate.kill_workers()  # the first worker dies with that host command in flight
    reports = [await estate.client.failover_result(i) for i in ids]

    assert all(r.outcome == "succeeded" for r in reports), [(r.vm, r.outcome, r.error) for r in reports]
    for spec in specs:
        vm = spec.vm
        for cmdlet in ("Stop-VM", "Start-VM", "Set-VMReplication"):
            assert estate.calls(cmdlet, vm) == 1, (vm, cmdlet, cut_off)
        assert estate.calls("Start-VMFailover", vm) == 2, (vm, cut_off)  # -Prepare on the source, then the replica
        assert estate.calls("Connect-VMNetworkAdapter", vm) == (1 if spec.target_network else 0), vm
        assert (
            estate.copies(vm)
            and next(c for c in estate.copies(vm) if c["replication_mode"] == "Primary")["host"] == spec.target.host
        )
    # Both workers took work from the shared queues, and the run cut off went on on the survivor.
    protections = [estate.client.temporal.get_workflow_handle(protection_workflow_id(vm)) for vm in VMS]
    everyone = set().union(*[await _activity_identities(h) for h in [*protections, *handles]])
    assert {first, second_worker} <= everyone, everyone
    moved = await _activity_identities(estate.client.temporal.get_workflow_handle(cut_off.split(":")[0]))
    assert second_worker in moved, (cut_off, moved)

    # A recovery plan on the same two workers: the first, started again (behind the estate's CrashGate), dies
    # holding one of the plan's batched host steps.
    await estate.start_workers()
    plan = RecoveryPlan.model_validate(
        {"name": "scale-out", "groups": [{"name": name, "vms": vms} for name, vms in PLAN_GROUPS.items()]}
    )
    statuses = {s.vm.lower(): s for s in await estate.client.protection_statuses() if s.vm in PLAN_VMS}
    directions = {
        vm: (Endpoint(site=s.primary_site, host=s.primary_host), Endpoint(site=s.replica_site, host=s.replica_host))
        for vm, s in statuses.items()
    }
    with session_for(estate.settings) as session:
        spec = plan_spec(session, plan, directions, time_scale=SPEED)
    plan_id = await estate.client.start_plan(spec)
    estate.gate.arm(plan_id, hold_before="plan_host_step")
    plan_handle = estate.client.temporal.get_workflow_handle(plan_id)
    await asyncio.wait_for(estate.gate.reached.wait(), timeout=180)
    cut_off = f"{plan_id}: plan_host_step held on {first}"
    await estate.kill_workers()
    report = await estate.client.plan_result(plan_id)

    outcomes = {v.vm: (v.outcome, v.error) for v in report.vms}
    assert outcomes == {vm: ("succeeded", None) for vm in PLAN_VMS}, (cut_off, outcomes)
    for vm in PLAN_VMS:
        for cmdlet in ("Stop-VM", "Start-VM", "Set-VMReplication"):
            assert estate.calls(cmdlet, vm) == 1, (vm, cmdlet, cut_off)
        assert estate.calls("Start-VMFailover", vm) == 2, (vm, cut_off)
    # The host step cut off on the first worker was taken up again, and finished, by the survivor.
    history = await plan_handle.fetch_history()
    retried = {
        e.activity_task_started_event_attributes.identity
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.attempt > 1
    }
    assert second_worker in retried, (cut_off, retried)
