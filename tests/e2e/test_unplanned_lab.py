"""Unplanned failover against the lab over WinRM: after site-a is lost (its hosts crashed, the sites
partitioned, its worker stopped) a VM is recovered from the chosen point with nothing from site-a — refused
without --force, nothing changed; with the old primary reachable it is fenced first and no split brain shows;
cancel reverts; commit / auto-commit; reverse once site-a is back; a worker killed at a step boundary changes
nothing twice."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from hvdr.errors import Conflict
from hvdr.failover import Step
from hvdr.inventory.db import session_for
from hvdr.inventory.failover import failover_spec
from hvdr.inventory.protection import protection_spec
from hvdr.inventory.tables import VMRow
from hvdr.protection import Phase
from hvdr.recovery_points import LATEST, LATEST_APP_CONSISTENT
from hvdr.unplanned import UnplannedSpec
from hvdr.worker.hosts import HostDirectory
from hvdr.worker.run import build_workers, run_workers
from tests.e2e.conftest import SPEED, Estate
from tests.e2e.test_failover_lab import _copy, _fault, _protected, _until_step
from tests.e2e.test_protection_lab import _wait
from tests.workflows.test_unplanned_replay import POINTS_HISTORY, REVERSE_HISTORY, UNPLANNED_HISTORY

pytestmark = pytest.mark.slow

FENCE_WAIT_S = 3.0


def _spec(estate: Estate, vm: str, **options: Any) -> UnplannedSpec:
    with session_for(estate.settings) as session:
        protection = protection_spec(session, vm, SPEED)
        base = failover_spec(session, vm, protection.primary, protection.replica, time_scale=SPEED)
    return UnplannedSpec(**base.model_dump(), fence_wait_s=FENCE_WAIT_S, **options)


async def _only_site_b(estate: Estate) -> None:
    """The workers again, but only site-b's: nothing polls site-a's task queue."""
    await estate.kill_workers()
    estate.stop_workers = asyncio.Event()
    estate.hosts = HostDirectory(estate.settings)
    workers = build_workers(estate.client.temporal, ["site-b"], hosts=estate.hosts)
    estate.workers = asyncio.create_task(run_workers(workers, estate.stop_workers))


def _changes(estate: Estate, vm: str) -> dict[str, int]:
    cmdlets = ("Stop-VM", "Suspend-VMReplication", "Start-VMFailover", "Start-VM", "Complete-VMFailover")
    return {c: estate.calls(c, vm) for c in cmdlets}


async def test_site_down_recovers_from_the_chosen_point_with_nothing_from_site_a(estate: Estate) -> None:
    vm = "db-01"
    await _protected(estate, vm)
    spec = _spec(estate, vm)
    listed = await estate.client.recovery_points(vm)
    assert listed.points[-1].id == LATEST and listed.host == spec.target.host
    app = [p for p in listed.points if p.type == "application-consistent"]
    assert app, listed
    # Site-a is lost: its hosts lose power, the sites are cut apart, and its worker is gone.
    for host in ("hv-a1.site-a.lab.local", "hv-a2.site-a.lab.local"):
        _fault(estate, "crash", host=host)
    _fault(estate, "partition", site_a="site-a", site_b="site-b")
    await _only_site_b(estate)
    before = _changes(estate, vm)

    refused = await estate.client.unplanned_failover(spec.model_copy(update={"point": LATEST_APP_CONSISTENT}))
    assert refused.outcome == "refused" and refused.failed_step is Step.FENCE, refused
    assert "--force" in (refused.error or "") and "does not answer" in (refused.error or ""), refused.error
    assert _changes(estate, vm) == before, "a refused failover changed something"
    replica = _copy(estate, vm, "Replica")
    assert replica["power_state"] == "Off" and replica["replication_state"] == "Replicating"
    assert (await estate.client.protection_status(vm)).phase is not Phase.FAILOVER

    forced = spec.model_copy(update={"point": LATEST_APP_CONSISTENT, "force": True})
    report = await estate.client.unplanned_failover(forced)
    assert report.outcome == "waiting", report
    assert not report.fenced and report.fence.startswith("not fenced"), report.fence
    assert report.recovery_point is not None and report.recovery_point.id == app[-1].id
    assert report.data_loss_s is not None and report.data_loss_s > 0
    assert [s.step for s in report.steps] == [
        Step.PREFLIGHT, Step.FENCE, Step.FAILOVER, Step.CONNECT, Step.START, Step.VERIFY
    ]  # fmt: skip
    now = _copy(estate, vm, "Replica")
    assert now["host"] == spec.target.host and now["power_state"] == "Running"
    assert now["replication_state"] == "FailedOverWaitingCompletion"
    assert spec.failover_ip is not None and spec.failover_ip.address in report.steps[-1].detail

    committed = await estate.client.commit(vm.upper())
    assert committed.outcome == "committed" and committed.steps[-2].step is Step.COMMIT, committed
    assert _copy(estate, vm, "Replica")["replication_state"] == "FailedOver"
    assert estate.calls("Complete-VMFailover", vm) == 1
    with session_for(estate.settings) as session:
        row = session.get(VMRow, vm)
        assert row is not None and row.host == spec.target.host and row.site == "site-b"
    shown = await estate.client.show(f"failover/{vm}")
    assert shown.kind == "unplanned" and getattr(shown, "data_loss_s", None) == committed.data_loss_s
    with pytest.raises(Conflict, match="nothing to commit"):
        await estate.client.commit(vm)
    await _record(estate, f"failover/{vm}", UNPLANNED_HISTORY)

    # Site-a is back: reverse replication, and protection monitors site-b → site-a.
    estate.control("DELETE", "/faults")
    await estate.kill_workers()
    await estate.start_workers()
    reversed_ = await estate.client.reverse(vm)
    assert reversed_.outcome == "succeeded", reversed_
    assert [s.step for s in reversed_.steps] == ["as-replica", "reverse", "initial-replication", "protection"]
    old = next(c for c in estate.copies(vm) if c["host"] == spec.source.host)
    assert old["replication_mode"] == "Replica" and old["power_state"] == "Off"
    status = (
        await _wait(estate, [vm], lambda s: s.phase is Phase.REPLICATING and s.replication_state == "Replicating")
    )[0]
    assert status.direction == "site-b → site-a" and status.primary_host == spec.target.host
    assert estate.control("GET", "/health")["split_brain"] == []
    await _record(estate, f"reverse/{vm}", REVERSE_HISTORY)
    async for run in estate.client.temporal.list_workflows("WorkflowType = 'RecoveryPoints'"):
        await _record(estate, run.id, POINTS_HISTORY)
        break


async def _record(estate: Estate, workflow_id: str, path: Path) -> None:
    if os.environ.get("HVDR_RECORD_HISTORIES"):
        history = await estate.client.temporal.get_workflow_handle(workflow_id).fetch_history()
        _write_once(path, history.to_json())


def _write_once(path: Path, text: str) -> None:
    """Recorded histories are append-only: a recording is written once, never replaced."""
    if not path.exists():
        path.write_text(text, encoding="utf-8")


async def test_a_reachable_primary_is_fenced_first_cancel_reverts_and_a_killed_worker_changes_nothing_twice(
    estate: Estate,
) -> None:
    vm = "web-04"
    with pytest.raises(Conflict, match="nothing to commit"):
        await estate.client.commit(vm)
    await _protected(estate, vm)
    spec = _spec(estate, vm)
    report = await estate.client.unplanned_failover(spec)
    assert report.outcome == "waiting" and report.fenced, report
    assert "turned" in report.fence and "suspended" in report.fence, report.fence
    source = _copy(estate, vm, "Primary")
    assert source["power_state"] == "Off" and source["replication_state"] == "Suspended"
    assert _copy(estate, vm, "Replica")["power_state"] == "Running"
    assert estate.control("GET", "/health")["split_brain"] == []
    assert (await estate.client.protection_status(vm)).phase is Phase.FAILOVER

    cancelled = await estate.client.cancel(vm)
    assert cancelled.outcome == "cancelled" and cancelled.undone, cancelled
    replica = _copy(estate, vm, "Replica")
    assert replica["power_state"] == "Off" and replica["replication_state"] == "Replicating"
    assert estate.calls("Stop-VMFailover", vm) == 1
    with pytest.raises(Conflict, match="nothing to cancel"):
        await estate.client.cancel(vm)
    status = await _wait(estate, [vm], lambda s: s.phase is Phase.PAUSED)
    assert status[0].primary_host == spec.source.host

    # Another point, auto-committed; the workers die as the run enters the failover (its activity in flight).
    again = spec.model_copy(update={"point": LATEST_APP_CONSISTENT, "auto_commit_after_s": 0.5})
    workflow_id = await estate.client.start_unplanned_failover(again)
    handle = estate.client.temporal.get_workflow_handle(workflow_id)
    await _until_step(handle, Step.FAILOVER)
    await estate.kill_workers()
    await asyncio.sleep(0.5)
    await estate.start_workers()
    final = await estate.client.failover_result_unplanned(workflow_id)
    assert final.outcome == "committed" and final.recovery_point is not None, final
    assert final.recovery_point.type == "application-consistent"
    assert _changes(estate, vm) == {
        "Stop-VM": 1,  # the first fence turned the old primary off; the second found it off
        "Suspend-VMReplication": 1,
        "Start-VMFailover": 2,  # one per run
        "Start-VM": 2,
        "Complete-VMFailover": 1,
    }
    assert _copy(estate, vm, "Replica")["replication_state"] == "FailedOver"
    assert estate.control("GET", "/health")["split_brain"] == []
