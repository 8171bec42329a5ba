"""A planned failover survives restarts of the embedded Temporal server (``hvdr server stop`` then ``start``, its
SQLite database kept) at its step boundaries, with the workers running throughout: the run completes and no
state-changing cmdlet is sent twice (the lab's ``/calls``). The server is this module's own (its own home,
database and ports), so stopping it disturbs no other test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hvdr.client import connect_temporal
from hvdr.runtime import temporal_server
from hvdr.settings import Settings, load_settings
from tests.cli.helpers import free_port_pair
from tests.e2e.conftest import Estate, lab_environment, open_estate
from tests.e2e.test_failover_lab import MOVES, _copy, _moves, _protected, _spec

pytestmark = pytest.mark.slow

RESTART_BEFORE = ["failover_prepare", "failover_connect", "failover_reverse"]
"""The server is restarted before each of these activities, in turn, in one run: after the source's shutdown,
after the failover on the replica, after the replica has started and been verified."""


@pytest.fixture
async def own_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Settings]:
    """An embedded server started as ``hvdr server start`` starts it, in this test's home."""
    lab_environment(monkeypatch, tmp_path / "home", f"127.0.0.1:{free_port_pair()}")
    settings = load_settings()
    await temporal_server.start(settings)
    try:
        yield settings
    finally:
        await asyncio.to_thread(temporal_server.stop, settings)


async def _restart(settings: Settings) -> None:
    outcome, _ = await asyncio.to_thread(temporal_server.stop, settings)  # it waits for the process to end
    assert outcome == "stopped", outcome
    assert not await temporal_server.temporal_answers(settings, timeout=1.0)
    _, started = await temporal_server.start(settings)
    assert started, "a second server was not started: the first still answered"


async def _restart_before(estate: Estate, settings: Settings, workflow_id: str, activity: str) -> None:
    """Hold the run's first attempt of ``activity`` before it does anything, restart the server meanwhile, then
    let the attempt go on (the workers run throughout)."""
    estate.gate.arm(workflow_id, hold_before=activity)
    ended = asyncio.ensure_future(estate.client.temporal.get_workflow_handle(workflow_id).result())
    reached = asyncio.ensure_future(estate.gate.reached.wait())
    await asyncio.wait([ended, reached], timeout=60, return_when=asyncio.FIRST_COMPLETED)
    ended.cancel()
    reached.cancel()
    assert estate.gate.reached.is_set(), f"the run never reached {activity}"
    await _restart(settings)
    estate.gate.release()


async def test_server_restarted_at_step_boundaries_changes_nothing_twice(own_server: Settings) -> None:
    settings = own_server
    async with open_estate(await connect_temporal(settings)) as estate:
        vm = "app-02"
        await _protected(estate, vm)
        spec = _spec(estate, vm)
        before = _moves(estate, vm)
        workflow_id = await estate.client.start_planned_failover(spec)
        for activity in RESTART_BEFORE:
            await _restart_before(estate, settings, workflow_id, activity)
        report = await asyncio.wait_for(estate.client.failover_result(workflow_id), 60)
        assert report.outcome == "succeeded", report
        after = _moves(estate, vm)
        assert {c: after[c] - before[c] for c in after} == {**MOVES, "Stop-VMFailover": 0}
        assert _copy(estate, vm, "Primary")["host"] == spec.target.host
        assert estate.control("GET", "/health")["split_brain"] == []
    log = (settings.temporal_db.parent / "server.log").read_text(errors="replace")
    assert log.count("Temporal Server:") == 1 + len(RESTART_BEFORE), log[-2000:]
