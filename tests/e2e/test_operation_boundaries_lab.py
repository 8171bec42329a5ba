"""Crash at every step of a test failover and of an unplanned failover: one run of each, its workers killed at
every step boundary in turn (the CrashGate refuses the next activity at once, so no crash waits for a heartbeat
timeout), and the operator's clean-up or commit sent while no worker runs; each run completes and no
state-changing cmdlet is sent twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

from hvdr.failover import Step
from hvdr.testfailover import TestStep
from tests.e2e.conftest import Estate
from tests.e2e.test_failover_lab import _copy, _protected
from tests.e2e.test_testfailover_lab import _assert_nothing_left
from tests.e2e.test_unplanned_lab import _spec as _unplanned_spec

pytestmark = pytest.mark.slow


Stopped = Callable[[dict[str, Any]], bool]
"""Whether the run, in the state its ``details`` query returns, no longer runs an activity by itself."""


def _ended(state: dict[str, Any]) -> bool:
    return state["outcome"] != "running"


async def _reached(handle: Any, order: Sequence[StrEnum], step: StrEnum, stopped: Stopped = _ended) -> None:
    """Wait until the run is at ``step`` or past it (or has stopped)."""
    deadline = time.monotonic() + 120
    while True:
        state = await handle.query("details")
        if stopped(state) or order.index(type(step)(state["step"])) >= order.index(step):
            return
        assert time.monotonic() < deadline, (step, state)
        await asyncio.sleep(0.005)


async def _crash(estate: Estate, handle: Any, stopped: Stopped = _ended) -> str | None:
    """Kill the workers at the run's next boundary between two activities (the CrashGate refuses the activity
    it starts next), or at once when the run no longer runs one by itself (it waits for the operator, or has
    ended). Returns the refused activity's type, None when there was none."""
    estate.gate.arm(handle.id)
    deadline = time.monotonic() + 120
    while not estate.gate.reached.is_set():
        if stopped(await handle.query("details")):
            break
        if (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING:
            break
        assert time.monotonic() < deadline, "the run neither ran an activity nor stopped"
        await asyncio.sleep(0.005)
    await estate.kill_workers()
    return estate.gate.refused


def _moves(estate: Estate, calls: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    return {(cmdlet, vm): estate.calls(cmdlet, vm) for cmdlet, vm in calls}


TEST_STEPS = [TestStep.PREFLIGHT, TestStep.FAILOVER, TestStep.CONNECT, TestStep.START, TestStep.VERIFY]
TEST_STEPS += [TestStep.KEEP, TestStep.CLEANUP, TestStep.CONFIRM]


async def test_test_failover_killed_at_every_step_boundary_in_turn_changes_nothing_twice(estate: Estate) -> None:
    vm = "app-04"
    test_vm = f"{vm} - Test"
    await _protected(estate, vm)
    spec = await estate.client.test_failover_spec(vm)
    calls = [(c, vm) for c in ("Start-VMFailover", "Stop-VMFailover", "Stop-VM", "Suspend-VMReplication")]
    calls += [(c, vm) for c in ("Set-VMReplication", "Complete-VMFailover", "Start-VM")]
    calls += [(c, test_vm) for c in ("Start-VM", "Stop-VM")]
    before = _moves(estate, calls)
    workflow_id = await estate.client.start_test_failover(spec)
    handle = estate.client.temporal.get_workflow_handle(workflow_id)
    crossed: list[str | None] = []
    cleanup: asyncio.Task[Any] | None = None
    for step in TEST_STEPS:
        if step is TestStep.CONNECT and spec.test_network is None:
            continue
        await _reached(handle, TEST_STEPS, step)
        crossed.append(await _crash(estate, handle))
        if step is TestStep.KEEP:  # the operator asks for the clean-up while no worker runs
            cleanup = asyncio.create_task(estate.client.test_failover_cleanup(vm))
            await asyncio.sleep(0.5)
            assert not cleanup.done()
        await estate.start_workers()
    assert cleanup is not None
    report = await cleanup
    assert report.cleanup_by is not None and "requested by" in report.cleanup_by, report
    # Every crash found the run between two activities; together they cover the boundaries of the host steps.
    assert None not in crossed, crossed
    # (a crash lands before the step's activity, or after it when the activity had already started)
    at = dict(zip([s for s in TEST_STEPS if s is not TestStep.CONNECT or spec.test_network], crossed, strict=True))
    assert at[TestStep.START] in ("failover_start_vm", "failover_verify"), crossed
    assert at[TestStep.CLEANUP] in ("testfailover_remove", "testfailover_confirm"), crossed
    _assert_nothing_left(estate, vm, report)
    after = _moves(estate, calls)
    assert {k: after[k] - before[k] for k in after} == {
        **{k: 0 for k in calls},
        ("Start-VMFailover", vm): 1,  # -AsTest: the test VM, created once
        ("Stop-VMFailover", vm): 1,  # its removal
        ("Start-VM", test_vm): 1,
    }, crossed
    # Connected once at most (not at all when -AsTest already put it on the test network).
    assert estate.calls("Connect-VMNetworkAdapter", test_vm) <= 1, crossed


UNPLANNED_STEPS = [Step.PREFLIGHT, Step.FENCE, Step.FAILOVER, Step.CONNECT, Step.START, Step.VERIFY]
UNPLANNED_STEPS += [Step.COMMIT, Step.RECORD]


async def test_unplanned_failover_killed_at_every_step_boundary_in_turn_changes_nothing_twice(estate: Estate) -> None:
    vm = "web-05"
    await _protected(estate, vm)
    # The old primary's site worker gets the default minute to take up the fence after a crash (the site-down
    # tests' 3 s would refuse the run whenever a restarted worker is slower than that to poll).
    spec = _unplanned_spec(estate, vm).model_copy(update={"fence_wait_s": 60.0})
    cmdlets = ("Stop-VM", "Suspend-VMReplication", "Start-VMFailover", "Connect-VMNetworkAdapter", "Start-VM")
    calls = [(c, vm) for c in (*cmdlets, "Stop-VMFailover", "Complete-VMFailover")]
    before = _moves(estate, calls)
    workflow_id = await estate.client.start_unplanned_failover(spec)
    handle = estate.client.temporal.get_workflow_handle(workflow_id)
    crossed: list[str | None] = []
    commit: asyncio.Task[Any] | None = None
    stopped: Stopped = _ended
    for step in UNPLANNED_STEPS:
        if step is Step.CONNECT and spec.target_network is None:
            continue
        if step is Step.COMMIT:  # verified, the run waits: the operator commits while no worker runs
            await _reached(handle, UNPLANNED_STEPS, step)
            state = await handle.query("details")
            assert state["outcome"] == "waiting", (crossed, state["error"])
            await estate.kill_workers()
            commit = asyncio.create_task(estate.client.commit(vm))
            await asyncio.sleep(0.5)
            assert not commit.done()
            await estate.start_workers()
            stopped = lambda state: state["outcome"] not in ("running", "waiting", "committed")  # noqa: E731
        await _reached(handle, UNPLANNED_STEPS, step, stopped)
        crossed.append(await _crash(estate, handle, stopped))
        await estate.start_workers()
    assert commit is not None
    report = await commit
    assert report.outcome == "committed" and report.fenced and report.error is None, (report, crossed)
    assert [s.step for s in report.steps][-2:] == [Step.COMMIT, Step.RECORD], report.steps
    assert all(s.outcome == "done" for s in report.steps), report.steps
    # A crash lands before a step's activity, or after it when the activity had already started (the start
    # boundary then shows as verify's): the commit's own boundary must have been crossed.
    assert "unplanned_complete" in crossed and {"failover_start_vm", "failover_verify"} & {*crossed}, crossed
    after = _moves(estate, calls)
    assert {k: after[k] - before[k] for k in after} == {
        ("Stop-VM", vm): 1,  # the fence turned the old primary off
        ("Suspend-VMReplication", vm): 1,
        ("Start-VMFailover", vm): 1,
        ("Connect-VMNetworkAdapter", vm): int(spec.target_network is not None),
        ("Start-VM", vm): 1,
        ("Stop-VMFailover", vm): 0,
        ("Complete-VMFailover", vm): 1,
    }, crossed
    replica = _copy(estate, vm, "Replica")
    assert replica["host"] == spec.target.host and replica["power_state"] == "Running", replica
    assert replica["replication_state"] == "FailedOver", replica
    assert estate.control("GET", "/health")["split_brain"] == []
