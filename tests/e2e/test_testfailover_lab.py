"""Test failover against the lab over WinRM: the test VM on the mapped test network, started and verified with
its failover IP while production keeps replicating (its RPO measured); removed on clean-up or when --keep runs
out, leaving nothing behind; conflicts refused; a failure cleans up; a worker killed at a step boundary changes
nothing twice."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from hvdr.errors import Conflict, NotFound
from hvdr.testfailover import TestFailoverReport, TestStep
from tests.e2e.conftest import SPEED, Estate
from tests.e2e.test_failover_lab import _copy, _fault, _protected, _spec
from tests.e2e.test_failover_lab import _until_step as _until
from tests.workflows.test_testfailover_replay import TEST_FAILOVER_HISTORY

pytestmark = pytest.mark.slow

FORWARD = [TestStep.PREFLIGHT, TestStep.FAILOVER, TestStep.CONNECT, TestStep.START, TestStep.VERIFY]
ALL_STEPS = [*FORWARD, TestStep.KEEP, TestStep.CLEANUP, TestStep.CONFIRM]


def _test_vm(estate: Estate, vm: str) -> dict[str, Any] | None:
    return next((row for row in estate.control("GET", "/vms") if row["name"] == f"{vm} - Test"), None)


PRODUCTION = ("Stop-VM", "Suspend-VMReplication", "Set-VMReplication", "Complete-VMFailover")


def _production_calls(estate: Estate, vm: str) -> list[int]:
    """What production's copies were told so far (a test failover adds nothing)."""
    return [estate.calls(cmdlet, vm) for cmdlet in PRODUCTION]


def _assert_production_untouched(
    estate: Estate, vm: str, report: TestFailoverReport, before: list[int] | None = None
) -> None:
    primary, replica = _copy(estate, vm, "Primary"), _copy(estate, vm, "Replica")
    assert primary["host"] == report.source.host and primary["power_state"] == "Running", primary
    assert primary["replication_state"] == "Replicating", primary
    assert replica["host"] == report.target.host and replica["power_state"] == "Off", replica
    assert replica["replication_state"] == "Replicating", replica
    assert _production_calls(estate, vm) == (before or [0] * len(PRODUCTION))
    assert estate.control("GET", "/health")["split_brain"] == []


def _assert_nothing_left(estate: Estate, vm: str, report: TestFailoverReport, before: list[int] | None = None) -> None:
    assert report.outcome == "succeeded" and report.cleaned_up, report
    expected = [s for s in ALL_STEPS if s is not TestStep.CONNECT or report.test_network is not None]
    assert [s.step for s in report.steps] == expected, report.steps
    assert all(s.outcome == "done" and s.ended_at is not None for s in report.steps), report.steps
    assert _test_vm(estate, vm) is None
    assert estate.hosts.host(report.target.host).get_replication(vm).test_vm_name is None
    _assert_production_untouched(estate, vm, report, before)


async def test_test_failover_runs_the_copy_on_the_test_network_and_cleans_up(estate: Estate) -> None:
    await _protected(estate, "db-01")
    planned = _spec(estate, "db-01")
    report = await estate.client.test_failover("DB-01")
    assert report.workflow_id == "testfailover/db-01" and report.phase == "keep" and report.keep_until is None
    assert [s.step for s in report.steps] == [*FORWARD, TestStep.KEEP], report.steps
    assert report.test_vm == "db-01 - Test" and report.test_network == "vSwitch-DR-Test"
    test_vm = _test_vm(estate, "db-01")
    assert test_vm is not None and test_vm["host"] == planned.target.host and test_vm["power_state"] == "Running"
    host = estate.hosts.host(planned.target.host)
    adapters = host.get_network_adapters("db-01 - Test")
    assert [a.switch_name for a in adapters] == ["vSwitch-DR-Test"], adapters
    assert planned.failover_ip is not None
    assert [ip for a in adapters for ip in a.ip_addresses] == [planned.failover_ip.address]
    _assert_production_untouched(estate, "db-01", report)
    # Visible as a run, refused twice, refused for a planned failover's VM.
    # The running one: the session's server also lists this VM's closed runs of earlier tests.
    [run] = [r for r in await estate.client.runs(vm="db-01", kind="testfailover") if r.status == "running"]
    assert (run.workflow_id, run.status, run.phase, run.site) == ("testfailover/db-01", "running", "keep", "site-b")
    with pytest.raises(Conflict, match="already running"):
        await estate.client.test_failover("db-01")
    await asyncio.sleep(10 * 60 / SPEED)  # production keeps replicating under the test: more RPO samples
    final = await estate.client.test_failover_cleanup("db-01")
    _assert_nothing_left(estate, "db-01", final)
    assert final.cleanup_by is not None and "requested by" in final.cleanup_by
    assert estate.calls("Start-VMFailover", "db-01") == 1 and estate.calls("Stop-VMFailover", "db-01") == 1
    rpo = final.rpo
    assert rpo.samples >= 3 and rpo.unmeasured == 0, rpo
    assert rpo.threshold_s == 1800 and rpo.within_threshold is True, rpo
    assert rpo.max_s is not None and rpo.max_s <= 2 * 300, rpo  # within two copy cycles of the 5-min policy
    shown = await estate.client.show("testfailover/DB-01")
    assert isinstance(shown, TestFailoverReport) and shown.outcome == "succeeded" and shown.cleaned_up
    with pytest.raises(NotFound, match="no test failover of db-01 is running"):
        await estate.client.test_failover_cleanup("db-01")
    history = await estate.client.temporal.get_workflow_handle(final.workflow_id).fetch_history()
    if os.environ.get("HVDR_RECORD_HISTORIES") and not TEST_FAILOVER_HISTORY.exists():  # append-only
        TEST_FAILOVER_HISTORY.write_text(history.to_json(), encoding="utf-8")


async def test_keep_failure_and_cancel_each_end_the_test_and_conflicts_are_refused(estate: Estate) -> None:
    vm = "app-01"
    with pytest.raises(NotFound, match="not protected"):
        await estate.client.test_failover(vm)
    await _protected(estate, vm)
    # A keep of 1,200 host seconds, measured every 60 (timers fire about once a second here, so 4 or more
    # measurements): at 2 a run, the kept test carries on in new runs with its state (continue-as-new).
    spec = await estate.client.test_failover_spec(vm, keep_s=1200)
    workflow_id = await estate.client.start_test_failover(
        spec.model_copy(update={"rpo_sample_s": 60.0, "ticks_per_run": 2})
    )
    first_run = (await estate.client.temporal.get_workflow_handle(workflow_id).describe()).run_id
    final = await estate.client.test_failover_result(workflow_id)
    _assert_nothing_left(estate, vm, final)
    assert final.cleanup_by == "the --keep time ran out", final
    keep = next(s for s in final.steps if s.step is TestStep.KEEP)
    assert keep.ended_at is not None and (keep.ended_at - keep.started_at).total_seconds() >= 1200 / SPEED
    last = await estate.client.temporal.get_workflow_handle(workflow_id).describe()
    assert last.run_id != first_run, "the keep continued as new"
    assert final.rpo.samples >= 5 and len(final.rpo.last) <= final.rpo.KEPT_SAMPLES, final.rpo

    # A failure once the test VM exists removes it.
    _fault(estate, "cmdlet_latency", host=spec.target.host, cmdlet="Start-VM", seconds=1.0)
    workflow_id = await estate.client.start_test_failover(spec)
    await _until_step(estate, workflow_id, TestStep.START)  # the test VM exists: its guest loses its services
    _fault(estate, "integration_services_off", host=spec.target.host, vm=f"{vm} - Test")
    report = await estate.client.test_failover_result(workflow_id)
    assert report.outcome == "failed" and report.failed_step is TestStep.VERIFY, report
    assert "no heartbeat" in (report.error or ""), report.error
    assert report.cleaned_up and [s.step for s in report.steps][-2:] == [TestStep.CLEANUP, TestStep.CONFIRM]
    assert report.cleanup_by == "the run, because verify failed"
    assert _test_vm(estate, vm) is None
    _assert_production_untouched(estate, vm, report)

    # A run cancelled while it keeps its test VM (`temporal workflow cancel`) removes it all the same.
    estate.control("DELETE", "/faults")
    kept = await estate.client.test_failover(vm)
    await estate.client.temporal.get_workflow_handle(kept.workflow_id).cancel()
    cancelled = await estate.client.test_failover_result(kept.workflow_id)
    assert cancelled.outcome == "failed" and cancelled.failed_step is TestStep.KEEP, cancelled
    assert cancelled.cleaned_up and cancelled.cleanup_by == "the run, because it was cancelled", cancelled
    assert _test_vm(estate, vm) is None
    _assert_production_untouched(estate, vm, cancelled)
    assert estate.calls("Start-VMFailover", vm) == 3 and estate.calls("Stop-VMFailover", vm) == 3

    # No test of a VM being failed over.
    planned = _spec(estate, vm)
    _fault(estate, "cmdlet_latency", host=planned.source.host, cmdlet="Stop-VM", seconds=5.0)
    await estate.client.start_planned_failover(planned)
    with pytest.raises(Conflict, match="being failed over"):
        await estate.client.test_failover(vm)


async def _until_step(estate: Estate, workflow_id: str, step: TestStep) -> None:
    await _until(estate.client.temporal.get_workflow_handle(workflow_id), step)  # type: ignore[arg-type]


async def test_worker_killed_at_test_failover_boundaries_changes_nothing_twice(estate: Estate) -> None:
    """Killed as -AsTest starts (the command that creates the test VM: sent once, never blindly again), then
    while the VM is kept (a clean-up asked for while no worker runs is taken up when one is back). Start-VM's
    and Stop-VMFailover's retries read before they act, as the planned failover's crash test shows for the same
    activities."""
    vm = "app-02"
    await _protected(estate, vm)
    workflow_id = await estate.client.start_test_failover(await estate.client.test_failover_spec(vm))
    await _until_step(estate, workflow_id, TestStep.FAILOVER)  # the run has entered the step: kill the workers
    await estate.kill_workers()
    await asyncio.sleep(0.5)
    await estate.start_workers()
    assert (await estate.client.test_failover_ready(workflow_id)).phase == "keep"
    await estate.kill_workers()
    cleanup = asyncio.create_task(estate.client.test_failover_cleanup(vm))
    await asyncio.sleep(0.5)
    await estate.start_workers()
    report = await cleanup
    _assert_nothing_left(estate, vm, report)
    assert estate.calls("Start-VMFailover", vm) == 1
    assert estate.calls("Start-VM", f"{vm} - Test") == 1
    assert estate.calls("Stop-VMFailover", vm) == 1
