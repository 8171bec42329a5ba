"""Failback and the operations a VM refuses, against the lab over WinRM: failback returns a failed-over VM to its
home host with every block, protection runs home → away again; a second operation on a VM, an unprotected VM
and an unhealthy one are refused with one line and nothing changed (``--force`` passes a Critical replica that
is recent, never an unprotected VM)."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError

from hvdr.errors import Conflict
from hvdr.failover import PLANNED_STEPS, FailoverReport, Step
from hvdr.inventory.db import session_for
from hvdr.inventory.tables import VMRow
from hvdr.protection import Phase
from hvdr.replication import ReplicationHealth
from hvdr.settings import WORKFLOW_TASK_QUEUE
from tests.e2e.conftest import Estate
from tests.e2e.test_failover_lab import Watch, _copy, _fault, _protected, _spec, _until_step
from tests.e2e.test_protection_lab import _wait

pytestmark = pytest.mark.slow


async def test_failback_returns_the_vm_home_with_its_data_and_protection_in_the_original_direction(
    estate: Estate,
) -> None:
    vm = "db-01"
    await _protected(estate, vm)
    home = _copy(estate, vm, "Primary")["host"]
    with pytest.raises(Conflict, match=f"{vm} is already home: it runs on {home} at site-a"):
        await estate.client.failback(vm)
    away = (await estate.client.failover_planned(_spec(estate, vm))).target.host
    await _wait(estate, [vm], lambda s: s.phase is Phase.REPLICATING and s.primary_host == away and s.rpo_s is not None)

    # A slow Start-VM at home keeps the returned copy off long enough to read its checksum.
    _fault(estate, "cmdlet_latency", host=home, cmdlet="Start-VM", seconds=1.0)
    watch = Watch(estate, vm, away, home)
    try:
        report = await estate.client.failback(vm)
    finally:
        watch.stop()
    assert (report.workflow_id, report.kind, report.outcome) == ("failback/db-01", "failback", "succeeded"), report
    assert [s.step for s in report.steps] == list(PLANNED_STEPS) and report.now_runs_on.host == home
    assert watch.source_sum is not None and watch.source_sum == watch.failed_over_sum, "blocks were lost"
    primary, replica = _copy(estate, vm, "Primary"), _copy(estate, vm, "Replica")
    assert (primary["host"], primary["power_state"], primary["replication_state"]) == (home, "Running", "Replicating")
    assert (replica["host"], replica["power_state"]) == (away, "Off")
    host = estate.hosts.host(home)
    assert [a.switch_name for a in host.get_network_adapters(vm)] == ["vSwitch-Prod"]  # its own network again
    with session_for(estate.settings) as session:
        row = session.get(VMRow, vm)
        assert row is not None and (row.host, row.site) == (home, "site-a")
    status = (await _wait(estate, [vm], lambda s: s.primary_host == home and s.rpo_s is not None))[0]
    assert status.phase is Phase.REPLICATING and status.direction == "site-a → site-b"
    assert estate.control("GET", "/health")["split_brain"] == []

    with pytest.raises(Conflict, match="already home"):
        await estate.client.failback(vm)
    shown = await estate.client.show("FAILBACK/db-01")
    assert shown.kind == "failback" and shown.outcome == "succeeded"


async def test_a_second_operation_on_a_vm_is_refused_and_changes_nothing(estate: Estate) -> None:
    vm = "app-01"
    await _protected(estate, vm)
    spec = _spec(estate, vm)
    # The first run holds the VM at its shutdown while the others are refused (3 s was too short a window under
    # load: the first run had ended before the second operator's check).
    _fault(estate, "cmdlet_latency", host=spec.source.host, cmdlet="Stop-VM", seconds=8.0)
    first = await estate.client.start_planned_failover(spec)
    await _until_step(estate.client.temporal.get_workflow_handle(first), Step.SHUTDOWN)
    busy = f"{vm} is busy: failover/{vm} is running; wait for it to end (`hvdr show failover/{vm}`)"
    for back in (False, True):  # any kind of operation, before it starts a run
        with pytest.raises(Conflict) as refused:
            await estate.client.failover_spec(vm, back=back)
        assert str(refused.value) == busy
    # Two operators at once: a run that got past the client's check is refused by the VM's claim at preflight.
    rogue = spec.model_copy(update={"kind": "failback"})
    handle = await estate.client.temporal.start_workflow(
        "PlannedFailover", rogue, id=f"failback/{vm}", task_queue=WORKFLOW_TASK_QUEUE, result_type=FailoverReport
    )
    refused_run = await handle.result()
    assert (refused_run.outcome, refused_run.failed_step) == ("failed", Step.PREFLIGHT), refused_run
    assert f"held by another operation, failover/{vm}" in (refused_run.error or ""), refused_run.error
    report = await estate.client.failover_result(first)
    assert report.outcome == "succeeded", report
    assert (estate.calls("Stop-VM", vm), estate.calls("Start-VMFailover", vm)) == (1, 2)

    # Not protected: refused, --force or not, and no run is started.
    for force in (False, True):
        with pytest.raises(Conflict, match="web-03 is not protected: protect it first"):
            await estate.client.failover_spec("web-03", force=force)
    with pytest.raises(RPCError):
        await estate.client.temporal.get_workflow_handle("failover/web-03").describe()


async def test_force_fails_over_a_critical_vm_whose_replica_is_recent(estate: Estate) -> None:
    vm = "db-02"
    await _protected(estate, vm)
    spec = _spec(estate, vm)
    partition = _fault(estate, "partition", site_a="site-a", site_b="site-b")
    await _wait(estate, [vm], lambda s: s.health is ReplicationHealth.CRITICAL)  # a delta cycle failed to send
    with pytest.raises(Conflict, match=r"replication health is Critical .* pass --force"):
        await estate.client.failover_spec(vm)
    # The host says the same at preflight (a run started from an older spec): refused before any change.
    stale = await estate.client.failover_planned(spec)
    assert (stale.outcome, stale.failed_step) == ("failed", Step.PREFLIGHT), stale
    assert "health is Critical" in (stale.error or "") and "--force" in (stale.error or ""), stale.error
    assert estate.calls("Stop-VM", vm) == 0

    forced = await estate.client.failover_spec(vm, force=True)
    _fault(estate, "cmdlet_latency", host=spec.source.host, cmdlet="Stop-VM", seconds=1.0)
    workflow_id = await estate.client.start_planned_failover(forced)
    await _until_step(estate.client.temporal.get_workflow_handle(workflow_id), Step.SHUTDOWN)
    estate.control("DELETE", f"/faults/{partition}")  # the link is back for the prepare's final sync
    report = await estate.client.failover_result(workflow_id)
    assert report.outcome == "succeeded", report
    assert "Critical" in report.steps[0].detail, report.steps[0]
    assert _copy(estate, vm, "Primary")["host"] == spec.target.host
