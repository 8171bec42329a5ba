"""Plan actions in a planned plan against the lab over WinRM: a manual step approved with the approver's identity
in the run's record lets the plan go on; a script that fails after a group's VMs failed over (before replication
is reversed) stops the plan (its next group never starts) and the group's compensation leaves every VM as it
was; a manual step nobody decides times out and fails the plan clearly, nothing moved."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from hvdr.actions import ActionSpec
from hvdr.client import Client
from hvdr.inventory.db import session_for
from hvdr.inventory.plan import declared_plan, plan_spec
from hvdr.plan import PlanReport, PlanSpec
from hvdr.protection import Endpoint, Phase
from tests.e2e.conftest import SPEED, Estate, approve_when_waiting
from tests.e2e.test_plan_lab import _state
from tests.e2e.test_protection_lab import _protect

pytestmark = pytest.mark.slow

HISTORY = Path(__file__).parents[1] / "workflows" / "histories" / "plan_actions_rolled_back.json"
DBS = ["db-01", "db-02"]
B1 = "hv-b1.site-b.lab.local"


async def _replicating(estate: Estate, site: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        statuses = [s for s in await estate.client.protection_statuses() if s.vm in DBS]
        if len(statuses) == len(DBS) and all(
            s.phase is Phase.REPLICATING and s.replication_state == "Replicating" and s.primary_site == site
            for s in statuses
        ):
            return
        assert time.monotonic() < deadline, [(s.vm, s.phase, s.primary_site) for s in statuses]
        await asyncio.sleep(1.0)


async def _databases(
    estate: Estate, before: list[ActionSpec], after: list[ActionSpec], *, then: tuple[str, ...] = ()
) -> PlanSpec:
    """The default plan's databases group, with these actions (and the VMs ``then`` of its later groups)."""
    statuses = [s for s in await estate.client.protection_statuses() if s.vm in DBS]
    directions = {
        s.vm.lower(): (
            Endpoint(site=s.primary_site, host=s.primary_host),
            Endpoint(site=s.replica_site, host=s.replica_host),
        )
        for s in statuses
    }
    with session_for(estate.settings) as session:
        plan = declared_plan(session, "three-tier")
        spec = plan_spec(session, plan, directions, time_scale=SPEED, only={*DBS, *then})
    group = spec.groups[0]
    group.before, group.after = before, after
    return spec


def _calls(estate: Estate, vm: str) -> list[Any]:
    return [r for r in estate.control("GET", "/calls/log")["log"] if r["vm"] == vm]


def _action(report: PlanReport, name: str) -> Any:
    return next(a for a in report.actions if a.name == name)


async def test_actions_stop_and_compensate_a_planned_plan_and_approvals_record_who(estate: Estate) -> None:
    await _protect(estate, vms=DBS)
    await _replicating(estate, "site-a")
    before = _state(estate)
    approver = Client(estate.client.temporal, estate.settings.model_copy(update={"identity_override": "carol@dr"}))
    go_ahead = ActionSpec(name="go-ahead", group="databases", when="before", type="manual", instructions="Go?")
    check = ActionSpec(
        name="check-sql",
        group="databases",
        when="after",
        type="script",
        host=B1,
        site="site-b",
        script="Get-VM -Name db-01 | Select-Object -ExpandProperty State\nWrite-Output 'sql does not answer'\nexit 3",
        timeout_s=60,
    )
    # app-01 (of the next group, applications) is not even protected: a stopped plan never gets to it.
    untouched = _calls(estate, "app-01")
    run = await estate.client.start_plan(await _databases(estate, [go_ahead], [check], then=("app-01",)))
    decision = await approve_when_waiting(approver, run, "go-ahead")
    report = await estate.client.plan_result(run)
    assert (decision.outcome, decision.by) == ("approved", "carol@dr")
    approved = _action(report, "go-ahead")
    assert (approved.outcome, approved.decided_by, approved.reason) == ("approved", "carol@dr", "change window open")
    failed = _action(report, "check-sql")
    assert (failed.outcome, failed.exit_code) == ("failed", 3), failed
    assert failed.output == "Running\r\nsql does not answer\r\n"  # it ran once both VMs ran at the target
    assert report.outcome == "stopped" and [g.outcome for g in report.groups] == ["failed", "skipped"]
    assert {v.vm: v.outcome for v in report.vms} == {
        "db-01": "rolled_back",
        "db-02": "rolled_back",
        "app-01": "not_started",
    }
    assert "let-databases-settle" not in {a.name for a in report.actions}, "the next group's actions never ran"
    assert _calls(estate, "app-01") == untouched, "the stopped plan sent a command for a VM of a later group"
    for vm in DBS:  # failed over and verified, never reversed, then undone: every VM as it was
        assert estate.calls("Start-VMFailover", vm) == 2 and estate.calls("Set-VMReplication", vm) == 0, vm
    await _replicating(estate, "site-a")
    assert _state(estate) == before
    assert estate.control("GET", "/health")["split_brain"] == []
    if os.environ.get("HVDR_RECORD_HISTORIES") and not HISTORY.exists():  # append-only: never re-recorded
        history = await estate.client.temporal.get_workflow_handle(run).fetch_history()
        HISTORY.write_text(history.to_json(), encoding="utf-8")

    # Nobody decides: the step times out (plan time: 30 s at the lab's speed) and the plan stops, nothing moved.
    timeout = go_ahead.model_copy(update={"timeout_s": 30.0})
    report = await estate.client.plan_result(await estate.client.start_plan(await _databases(estate, [timeout], [])))
    timed_out = _action(report, "go-ahead")
    assert (timed_out.outcome, timed_out.detail) == ("timed_out", "nobody approved or rejected it within 30 s")
    assert report.outcome == "stopped" and {v.outcome for v in report.vms} == {"not_started"}
    assert _state(estate) == before
