"""Planned failover against the lab over WinRM: zero blocks lost, Replicating in reverse, the failover IP from
the guest; a failure after the shutdown is undone and the source runs again; the guest's timing (hung, slow
boot, lost heartbeat) fails the step concerned; a worker killed at each step boundary changes nothing twice."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hvdr.failover import PLANNED_STEPS, FailoverReport, Step
from hvdr.inventory.db import session_for
from hvdr.inventory.failover import failover_spec
from hvdr.inventory.protection import protection_spec
from hvdr.inventory.tables import VMRow
from hvdr.protection import Phase
from tests.e2e.conftest import SPEED, Estate
from tests.e2e.test_protection_lab import _protect, _wait
from tests.workflows.test_failover_replay import PLANNED_HISTORY

pytestmark = pytest.mark.slow

STATE_CHANGES = ("Stop-VM", "Start-VMFailover", "Connect-VMNetworkAdapter", "Start-VM", "Set-VMReplication")


async def _protected(estate: Estate, vm: str) -> None:
    await _protect(estate, vms=[vm])
    await _wait(estate, [vm], lambda s: s.phase is Phase.REPLICATING and s.replication_state == "Replicating")


def _spec(estate: Estate, vm: str, **options: Any):  # type: ignore[no-untyped-def]
    with session_for(estate.settings) as session:
        protection = protection_spec(session, vm, SPEED)
        return failover_spec(session, vm, protection.primary, protection.replica, time_scale=SPEED, **options)


def _copy(estate: Estate, vm: str, mode: str) -> dict[str, Any]:
    return next(c for c in estate.copies(vm) if c["replication_mode"] == mode)


def _fault(estate: Estate, kind: str, **params: Any) -> str:
    fault: dict[str, Any] = estate.control("POST", "/faults", {"kind": kind, **params})
    return str(fault["id"])


class Watch:
    """Polls the lab while a failover runs: the source's checksum once it is off (no more writes) and the
    replica's once it has failed over and before it starts (what the guest will boot from)."""

    def __init__(self, estate: Estate, vm: str, source: str, target: str) -> None:
        self.estate, self.vm, self.source, self.target = estate, vm, source, target
        self.source_sum: str | None = None
        self.failed_over_sum: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for row in self.estate.copies(self.vm):
                if row["host"] == self.source and row["power_state"] == "Off" and self.source_sum is None:
                    self.source_sum = row["disk_checksum"]
                if (
                    row["host"] == self.target
                    and row["replication_state"] == "FailedOverWaitingCompletion"
                    and row["power_state"] == "Off"
                ):
                    self.failed_over_sum = row["disk_checksum"]
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


async def test_planned_failover_loses_no_block_and_replicates_in_reverse(estate: Estate) -> None:
    await _protected(estate, "db-01")
    spec = _spec(estate, "db-01")
    assert spec.failover_ip is not None and spec.target_network == "vSwitch-DR"
    # A slow Start-VM on the target keeps the failed-over copy off long enough to read its checksum.
    _fault(estate, "cmdlet_latency", host=spec.target.host, cmdlet="Start-VM", seconds=1.0)
    watch = Watch(estate, "db-01", spec.source.host, spec.target.host)
    try:
        report = await estate.client.failover_planned(spec)
    finally:
        watch.stop()
    assert report.outcome == "succeeded", report
    assert [s.step for s in report.steps] == list(PLANNED_STEPS)
    assert all(s.outcome == "done" and s.ended_at is not None for s in report.steps), report.steps
    assert watch.source_sum is not None and watch.source_sum == watch.failed_over_sum, "blocks were lost"
    now_primary, now_replica = _copy(estate, "db-01", "Primary"), _copy(estate, "db-01", "Replica")
    assert now_primary["host"] == spec.target.host and now_primary["power_state"] == "Running"
    assert now_replica["host"] == spec.source.host and now_replica["power_state"] == "Off"
    assert now_primary["replication_state"] == "Replicating"
    verify = next(s for s in report.steps if s.step is Step.VERIFY)
    assert spec.failover_ip.address in verify.detail
    host = estate.hosts.host(spec.target.host)
    addresses = [ip for a in host.get_network_adapters("db-01") for ip in a.ip_addresses]
    assert addresses == [spec.failover_ip.address]
    assert [a.switch_name for a in host.get_network_adapters("db-01")] == ["vSwitch-DR"]
    with session_for(estate.settings) as session:
        row = session.get(VMRow, "db-01")
        assert row is not None and row.host == spec.target.host and row.site == "site-b"
    # Protection goes on in the new direction, and its ticks find it Replicating there.
    status = (await _wait(estate, ["db-01"], lambda s: s.primary_host == spec.target.host and s.rpo_s is not None))[0]
    assert status.phase is Phase.REPLICATING and status.direction == "site-b → site-a"
    for cmdlet in ("Stop-VM", "Connect-VMNetworkAdapter"):
        assert estate.calls(cmdlet, "db-01") == 1, cmdlet
    assert estate.calls("Start-VMFailover", "db-01") == 2  # -Prepare on the source, then on the replica
    assert estate.control("GET", "/health")["split_brain"] == []
    history = await estate.client.temporal.get_workflow_handle(report.workflow_id).fetch_history()
    if os.environ.get("HVDR_RECORD_HISTORIES"):
        PLANNED_HISTORY.write_text(history.to_json(), encoding="utf-8")


async def test_a_second_failover_of_the_same_vm_is_refused(estate: Estate) -> None:
    await _protected(estate, "app-01")
    spec = _spec(estate, "app-01")
    _fault(estate, "cmdlet_latency", host=spec.source.host, cmdlet="Stop-VM", seconds=2.0)
    began = datetime.now(UTC)
    first = await estate.client.start_planned_failover(spec)
    from hvdr.errors import Conflict

    with pytest.raises(Conflict, match="failover/app-01 is running"):
        await estate.client.start_planned_failover(spec)
    report = await estate.client.failover_result(first)
    assert report.outcome == "succeeded", report
    # Newest first; the session's server also lists this VM's runs of earlier tests (closed).
    run = (await estate.client.runs(vm="APP-01", kind="failover"))[0]
    assert run.started_at is not None and run.started_at >= began - timedelta(seconds=1), run
    assert (run.workflow_id, run.status, run.phase, run.site) == ("failover/app-01", "completed", "done", "site-b")
    shown = await estate.client.show("failover/APP-01")
    assert [s.step for s in shown.steps] == list(PLANNED_STEPS) and shown.outcome == "succeeded"
    assert all(s.ended_at is not None and s.ended_at >= s.started_at for s in shown.steps)


async def _until_step(handle: Any, step: Step) -> None:
    deadline = time.monotonic() + 60
    while True:
        state = await handle.query("details")
        if state["step"] == step.value or state["outcome"] != "running":
            return
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.005)


def _assert_rolled_back(estate: Estate, report: FailoverReport, vm: str, failed: Step) -> None:
    assert report.outcome == "rolled_back", report
    assert report.failed_step is failed, report
    source = _copy(estate, vm, "Primary")
    assert source["host"] == report.source.host and source["power_state"] == "Running", source
    assert source["replication_state"] == "Replicating", source
    replica = _copy(estate, vm, "Replica")
    assert replica["host"] == report.target.host and replica["power_state"] == "Off"
    assert replica["replication_state"] == "Replicating", replica
    assert any("started" in line for line in report.undone), report.undone
    assert estate.control("GET", "/health")["split_brain"] == []


async def test_a_hung_guest_fails_the_shutdown_and_changes_nothing(estate: Estate) -> None:
    await _protected(estate, "web-02")
    spec = _spec(estate, "web-02")
    _fault(estate, "hung_guest", host=spec.source.host, vm="web-02")
    report = await estate.client.failover_planned(spec)
    assert report.outcome == "failed" and report.failed_step is Step.SHUTDOWN, report
    assert "did not shut down" in (report.error or "") and "Failed to stop" in (report.error or ""), report.error
    source = _copy(estate, "web-02", "Primary")
    assert source["power_state"] == "Running" and source["replication_state"] == "Replicating"
    assert estate.calls("Start-VMFailover", "web-02") == 0
    assert estate.calls("Start-VM", "web-02") == 0, "the source still ran: nothing to start"
    await _wait(estate, ["web-02"], lambda s: s.phase is Phase.REPLICATING)


async def test_no_rollback_leaves_the_failed_step_as_it_is(estate: Estate) -> None:
    await _protected(estate, "web-03")
    spec = _spec(estate, "web-03", rollback=False)
    _fault(estate, "integration_services_off", host=spec.target.host, vm="web-03")
    report = await estate.client.failover_planned(spec)
    assert report.outcome == "failed" and report.failed_step is Step.VERIFY, report
    assert report.undone and "--no-rollback" in report.undone[0]
    assert _copy(estate, "web-03", "Replica")["replication_state"] == "FailedOverWaitingCompletion"
    assert estate.calls("Stop-VMFailover", "web-03") == 0


async def test_worker_killed_in_the_middle_of_the_shutdown_sends_nothing_twice(estate: Estate) -> None:
    """A crash while the guest shuts down: Temporal notices the dead worker by its heartbeat (45 s) and the next
    attempt finds the VM off, so Stop-VM is not sent again."""
    vm = "app-02"
    await _protected(estate, vm)
    spec = _spec(estate, vm)
    workflow_id = await estate.client.start_planned_failover(spec)
    handle = estate.client.temporal.get_workflow_handle(workflow_id)
    await _until_step(handle, Step.SHUTDOWN)  # the run has entered the step: kill the workers as it begins
    await estate.kill_workers()
    await asyncio.sleep(0.5)
    await estate.start_workers()
    report = await estate.client.failover_result(workflow_id)
    assert report.outcome == "succeeded", report
    for cmdlet in ("Stop-VM", "Connect-VMNetworkAdapter", "Start-VM"):
        assert estate.calls(cmdlet, vm) == 1, cmdlet
    assert estate.calls("Start-VMFailover", vm) == 2
    assert estate.calls("Set-VMReplication", vm) == 1
    assert _copy(estate, vm, "Primary")["host"] == spec.target.host


CRASH_AFTER = [Step.PREFLIGHT, Step.SHUTDOWN, Step.PREPARE, Step.FAILOVER, Step.CONNECT, Step.START, Step.VERIFY]
CRASH_AFTER += [Step.REVERSE]
"""The workers are killed as the run takes each of these steps, in turn, in one run: each crash lands at the
boundary after the step's activity (before it, when the activity had not started), from the preflight's checks to
the record of the new placement after reverse."""
MOVES = {"Stop-VM": 1, "Start-VMFailover": 2, "Connect-VMNetworkAdapter": 1, "Start-VM": 1, "Set-VMReplication": 1}
"""The state-changing cmdlets of one planned failover (or failback), each sent once."""


def _moves(estate: Estate, vm: str) -> dict[str, int]:
    return {cmdlet: estate.calls(cmdlet, vm) for cmdlet in [*MOVES, "Stop-VMFailover"]}


async def test_workers_killed_at_every_step_boundary_in_turn_change_nothing_twice(estate: Estate) -> None:
    vm = "app-02"
    await _protected(estate, vm)
    spec = _spec(estate, vm)
    before = _moves(estate, vm)
    workflow_id = await estate.client.start_planned_failover(spec)
    crossed: list[str] = []
    while len(crossed) < 20:
        refused = await estate.crash_at_boundary(workflow_id)
        await estate.start_workers()
        if refused is None:
            break
        crossed.append(refused)
    report = await estate.client.failover_result(workflow_id)
    assert report.outcome == "succeeded", (report, crossed)
    # Every crash found the run at a new boundary; together they cover the step boundaries to the record.
    assert len(set(crossed)) == len(crossed) >= len(CRASH_AFTER), crossed
    assert {"failover_connect", "failover_start_vm", "failover_verify", "failover_reverse"} <= {
        *crossed,
        "failover_record_placement",
    }, crossed
    after = _moves(estate, vm)
    assert {c: after[c] - before[c] for c in after} == {**MOVES, "Stop-VMFailover": 0}, crossed
    assert _copy(estate, vm, "Primary")["host"] == spec.target.host
    assert estate.control("GET", "/health")["split_brain"] == []


async def test_a_replica_host_lost_during_the_shutdown_fails_the_prepare_and_is_undone(estate: Estate) -> None:
    vm = "app-03"
    await _protected(estate, vm)
    spec = _spec(estate, vm)
    _fault(estate, "cmdlet_latency", host=spec.source.host, cmdlet="Stop-VM", seconds=1.0)
    workflow_id = await estate.client.start_planned_failover(spec)
    handle = estate.client.temporal.get_workflow_handle(workflow_id)
    await _until_step(handle, Step.SHUTDOWN)
    down = _fault(estate, "host_down", host=spec.target.host)  # the final sync has nowhere to go
    report = await estate.client.failover_result(workflow_id)
    estate.control("DELETE", f"/faults/{down}")
    _assert_rolled_back(estate, report, vm, Step.PREPARE)
    assert estate.calls("Start-VM", vm) == 1, "the source was started again, once"
