"""Plans of kind test and unplanned against the lab over WinRM, on one estate of three VMs of plan three-tier
(one per group): a test plan starts every test copy on the test network, keeps it until ``plan cleanup``, removes
it and never sends a state-changing cmdlet to a production VM; after site-a is lost an unplanned plan is cancelled
(every copy a replica again), run again past a VM that fails to verify, committed, and ``plan retry`` finishes the
failed VM."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hvdr.errors import Conflict
from hvdr.inventory.db import session_for
from hvdr.inventory.plan import declared_plan, plan_spec
from hvdr.plan import PlanReport, PlanSpec
from hvdr.recovery_points import LATEST_APP_CONSISTENT
from tests.e2e.conftest import SPEED, Estate, approve_when_waiting
from tests.e2e.test_failover_lab import _copy, _fault
from tests.e2e.test_unplanned_lab import _only_site_b, _record
from tests.workflows.test_plan_kinds_replay import (
    TEST_DRY_RUN_HISTORY,
    TEST_HISTORY,
    UNPLANNED_DRY_RUN_HISTORY,
    UNPLANNED_HISTORY,
)

pytestmark = pytest.mark.slow

VMS = {"databases": "db-01", "applications": "app-02", "web": "web-02"}
SITE_A = ("hv-a1.site-a.lab.local", "hv-a2.site-a.lab.local")
READS = ("get-", "measure-", "test-")


@pytest.fixture(scope="module")
async def kinds(shared_estate: Estate) -> Estate:
    await shared_estate.client.protect(_protection(shared_estate))
    await shared_estate.client.wait_protected(list(VMS.values()), timeout=300)
    return shared_estate


def _protection(estate: Estate) -> list[Any]:
    from hvdr.inventory.protection import protection_spec

    with session_for(estate.settings) as session:
        return [protection_spec(session, vm, SPEED) for vm in VMS.values()]


def _spec(estate: Estate, kind: Any, **options: Any) -> PlanSpec:
    """Plan three-tier, only our three VMs, in the direction their protection runs."""
    from hvdr.inventory.protection import protection_spec

    with session_for(estate.settings) as session:
        directions = {}
        for vm in VMS.values():
            protection = protection_spec(session, vm, SPEED)
            directions[vm] = (protection.primary, protection.replica)
        plan = declared_plan(session, "three-tier")
        return plan_spec(session, plan, directions, kind=kind, time_scale=SPEED, only=set(VMS.values()), **options)


async def _waiting(estate: Estate, spec: PlanSpec) -> tuple[str, PlanReport]:
    """Start the run, approve the web group's manual step when it asks, return once the run waits."""
    run = await estate.client.start_plan(spec)
    web = any(g.name == "web" for g in spec.groups)
    approving = asyncio.ensure_future(approve_when_waiting(estate.client, run, "switch-dns")) if web else None
    report = await asyncio.wait_for(estate.client.plan_result(run, until_waiting=True), 240)
    if approving is not None:
        assert approving.done() and approving.result().outcome == "approved", (
            "the web group's manual step was not approved"
        )
    return run, report


def _production_changes(estate: Estate) -> dict[tuple[str, str], int]:
    """State-changing cmdlets the lab saw against each production VM (the VM on its primary host)."""
    rows = estate.control("GET", "/calls")["calls"]
    primaries = {vm: _copy(estate, vm, "Primary")["host"] for vm in VMS.values()}
    return {
        (r["vm"], r["cmdlet"]): r["count"]
        for r in rows
        if r["vm"] in primaries and r["host"] == primaries[r["vm"]] and not r["cmdlet"].lower().startswith(READS)
    }


async def test_a_test_plan_keeps_every_test_copy_until_cleanup_and_leaves_production_untouched(kinds: Estate) -> None:
    estate = kinds
    before = _production_changes(estate)
    changes = ("Start-VMFailover", "Set-VMNetworkAdapter", "Start-VM")
    counted = {c: estate.calls(c) for c in changes}
    dry_run = await estate.client.start_plan(_spec(estate, "test", dry_run=True))
    dry = await estate.client.plan_result(dry_run)
    await _record(estate, dry_run, TEST_DRY_RUN_HISTORY)
    assert dry.outcome == "dry_run" and dry.error is None, [(v.vm, v.error) for v in dry.vms]
    for vm in VMS.values():
        bars = {b.step: b.detail for b in dry.timeline if b.lane == vm}
        assert list(bars) == ["preflight", "failover", "connect", "start", "verify", "cleanup"], bars
        assert "replica ready" in bars["preflight"] and "test" in bars["preflight"], bars
    assert {c: estate.calls(c) for c in changes} == counted, "a test plan's dry run changed something"
    run, report = await _waiting(estate, _spec(estate, "test"))
    assert report.outcome == "waiting" and report.kind == "test", report
    assert [g.outcome for g in report.groups] == ["done", "done", "done"], [
        (v.vm, v.outcome, v.error) for v in report.vms
    ]
    for vm in VMS.values():
        test = next(c for c in estate.copies(f"{vm} - Test"))
        assert test["power_state"] == "Running", test
        connected = [b.detail for b in report.timeline if b.lane == vm and b.step == "connect"]
        assert connected and "vSwitch-DR-Test" in connected[0], connected
        assert _copy(estate, vm, "Primary")["replication_state"] == "Replicating"
    with pytest.raises(Conflict, match="nothing to commit"):
        await estate.client.plan_commit(run)

    done = await estate.client.plan_cleanup(run)
    assert done.outcome == "succeeded", done
    assert all(v.cleaned_up and v.outcome == "succeeded" for v in done.vms), done.vms
    assert done.decided is not None and "clean-up requested" in done.decided
    for vm in VMS.values():
        assert estate.copies(f"{vm} - Test") == []
    assert _production_changes(estate) == before, "a test plan sent a state-changing cmdlet to production"
    with pytest.raises(Conflict, match="nothing to clean up"):
        await estate.client.plan_cleanup(run)
    await _record(estate, run, TEST_HISTORY)


async def test_an_unplanned_plan_after_site_down_cancels_continues_past_a_failed_vm_commits_and_retry_finishes(
    kinds: Estate,
) -> None:
    estate = kinds
    for host in SITE_A:
        _fault(estate, "crash", host=host)
    _fault(estate, "partition", site_a="site-a", site_b="site-b")
    await _only_site_b(estate)
    spec = _spec(estate, "unplanned", point=LATEST_APP_CONSISTENT, force=True).model_copy(update={"fence_wait_s": 3.0})
    assert spec.on_failure == "continue"

    # Dry runs first: without --force every VM would be refused (its old primary does not answer), with it every
    # VM would go on; neither changes anything.
    failovers = estate.calls("Start-VMFailover")
    unforced = spec.model_copy(update={"dry_run": True, "force": False})
    refused_run = await estate.client.start_plan(unforced)
    refused = await estate.client.plan_result(refused_run)
    await _record(estate, refused_run, UNPLANNED_DRY_RUN_HISTORY)
    assert refused.outcome == "dry_run" and refused.error == "would fail: db-01, app-02, web-02", refused.error
    assert all("does not answer" in (v.error or "") and "without --force" in (v.error or "") for v in refused.vms)
    forced = await estate.client.plan_result(await estate.client.start_plan(spec.model_copy(update={"dry_run": True})))
    assert forced.outcome == "dry_run" and forced.error is None, [(v.vm, v.error) for v in forced.vms]
    preflights = [b.detail for b in forced.timeline if b.step == "preflight"]
    assert all("would go on (--force)" in d and "recovery point" in d for d in preflights), preflights
    assert [b.step for b in forced.timeline if b.lane == "db-01"] == [
        "preflight",
        "fence",
        "failover",
        "connect",
        "start",
        "verify",
        "commit",
    ]
    assert estate.calls("Start-VMFailover") == failovers, "a dry run failed a VM over"

    # Cancel: every copy is a replica again, nothing committed.
    run, report = await _waiting(estate, spec)
    assert report.outcome == "waiting" and all(v.outcome == "waiting" for v in report.vms), report
    fences = [v.fence or "" for v in report.vms]
    assert all(f.startswith("not fenced") for f in fences), fences
    assert all(v.data_loss_s is not None and v.data_loss_s > 0 for v in report.vms), report.vms
    cancelled = await estate.client.plan_cancel(run)
    assert cancelled.outcome == "cancelled" and all(v.outcome == "cancelled" for v in cancelled.vms), cancelled
    for vm in VMS.values():
        replica = _copy(estate, vm, "Replica")
        assert replica["power_state"] == "Off", replica
    assert estate.calls("Complete-VMFailover") == 0

    # Again, with the application VM's guest silent: the web group still runs, the commit reverts app-02.
    target = next(v.target.host for g in spec.groups for v in g.vms if v.vm == VMS["applications"])
    fault = _fault(estate, "integration_services_off", host=target, vm=VMS["applications"])
    run, report = await _waiting(estate, spec)
    by_vm = {v.vm: v for v in report.vms}
    assert by_vm["app-02"].failed_step == "verify", by_vm["app-02"]
    assert by_vm["web-02"].rto_s is not None, "the web group did not run past the failed VM"
    committed = await estate.client.plan_commit(run)
    assert committed.outcome == "partial", committed
    await _record(estate, run, UNPLANNED_HISTORY)
    assert {v.vm: v.outcome for v in committed.vms} == {"db-01": "committed", "app-02": "failed", "web-02": "committed"}
    assert _copy(estate, "app-02", "Replica")["power_state"] == "Off"
    for vm in ("db-01", "web-02"):
        assert next(c for c in estate.copies(vm) if c["host"] != _site_a_host(estate, vm))["replication_state"] == (
            "FailedOver"
        )

    estate.control("DELETE", f"/faults/{fault}")
    retried = await estate.client.plan_report(run)
    assert retried.failed_vms() == ["app-02"]
    from hvdr.cli.plan import _retry

    again = await _retry(run, wait=True)
    assert again is not None and again.retry_of == run and again.outcome == "waiting", again
    assert [v.vm for v in again.vms] == ["app-02"]
    final = await estate.client.plan_commit(again.workflow_id)
    assert final.outcome == "succeeded", final
    assert estate.calls("Complete-VMFailover", "app-02") == 1
    assert estate.control("GET", "/health")["split_brain"] == []


def _site_a_host(estate: Estate, vm: str) -> str:
    return next(c["host"] for c in estate.copies(vm) if c["host"] in SITE_A)
