"""Scheduled drills against the lab: a schedule whose cron fires within seconds runs a drill of a two-group plan
(test failovers in group order, verified, cleaned up, production untouched and its RPO in range); the evidence
report shows the measured RTO per VM against the plan's target; the outcome reaches the runs table, so
`hvdr check` stops warning that the plan was never drilled; pause, resume, delete and the CLI's one-line errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from hvdr.drill import DrillReport, DrillSchedule
from hvdr.errors import Conflict, NotFound
from hvdr.inventory.db import session_for
from hvdr.inventory.readiness import DRILL_KIND, check_request
from hvdr.inventory.tables import RecoveryPlanRow, RunRecordRow
from hvdr.protection import AlertKind
from hvdr.readiness import CheckSchedule
from hvdr.report_render import render
from hvdr.topology import RecoveryPlan
from tests.cli.helpers import hvdr
from tests.e2e.conftest import Estate
from tests.e2e.test_check_lab import _check, _switch_removed
from tests.e2e.test_protection_lab import _protect, _wait
from tests.e2e.test_testfailover_lab import _assert_production_untouched, _test_vm
from tests.workflows.test_drill_replay import DRILL_HISTORY

pytestmark = pytest.mark.slow

PLAN = "drill-pair"
VMS = ("db-01", "app-01")
SCHEDULED_CHECK_HISTORY = Path(__file__).parent.parent / "workflows" / "histories" / "scheduled_check.json"
EVERY_5_SECONDS = "*/5 * * * * * *"  # Temporal's 7-field form: second minute hour day month weekday year


def _add_plan(estate: Estate) -> None:
    plan = RecoveryPlan.model_validate(
        {
            "name": PLAN,
            "primary_cloud": "cloud-a",
            "recovery_cloud": "cloud-b",
            "rto_target_s": 3600,
            "groups": [{"name": "databases", "vms": ["db-01"]}, {"name": "applications", "vms": ["app-01"]}],
        }
    )
    with session_for(estate.settings) as session:
        session.add(RecoveryPlanRow(name=PLAN, spec=plan.model_dump(mode="json")))


def _cli(*args: str) -> tuple[int, str, str]:
    result = hvdr(*args, env={k: v for k, v in os.environ.items() if k.startswith("HVDR_")})
    return result.code, result.out, result.err


async def _drill_findings() -> list[dict[str, str]]:
    _, report = await _check()
    return [f for f in report["findings"] if f["check"] == "drill" and f["subject"] == PLAN]


async def _first_run(estate: Estate, timeout: float = 30) -> DrillSchedule:
    deadline = time.monotonic() + timeout
    while True:
        info = await estate.client.drill_schedule_info(PLAN)
        if info.recent_runs:
            return info
        assert time.monotonic() < deadline, info
        await asyncio.sleep(0.2)


@pytest.fixture
async def drills(estate: Estate) -> AsyncIterator[Estate]:
    """The estate, and no drill schedule or drill run left behind on the session's server, whatever happens."""
    try:
        yield estate
    finally:
        with contextlib.suppress(NotFound):
            await estate.client.drill_delete(PLAN)
        async for run in estate.client.temporal.list_workflows("HvdrKind = 'drill' AND ExecutionStatus = 'Running'"):
            await estate.client.temporal.get_workflow_handle(run.id).terminate("end of test")


async def test_a_scheduled_drill_runs_on_schedule_and_leaves_its_evidence(drills: Estate, tmp_path: Path) -> None:
    estate = drills
    _add_plan(estate)
    await _protect(estate, vms=list(VMS))
    await _wait(estate, list(VMS), lambda s: s.phase.value == "replicating" and s.replication_state == "Replicating")
    [never] = await _drill_findings()
    assert never["message"].startswith("no drill recorded")

    # Bad input: one line naming what is wrong, non-zero exit, nothing scheduled.
    for args, wrong in (
        (("--plan", "no-such-plan", "--cron", "0 3 * * 6"), "unknown recovery plan 'no-such-plan'"),
        (("--plan", PLAN, "--cron", "every saturday"), "--cron 'every saturday' has 2 field(s)"),
        (("--plan", PLAN, "--cron", "99 3 * * 6"), "--cron '99 3 * * 6' is not a valid cron expression"),
    ):
        code, out, err = _cli("drill", "schedule", *args)
        assert code != 0 and wrong in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (out, err)
    assert await estate.client.drill_schedules() == []

    code, out, err = _cli("drill", "schedule", "--plan", PLAN, "--cron", EVERY_5_SECONDS, "-o", "json")
    assert code == 0, err
    created = DrillSchedule.model_validate(json.loads(out))
    assert (created.schedule_id, created.plan, created.cron, created.paused) == (
        f"drill/{PLAN}",
        PLAN,
        [EVERY_5_SECONDS],
        False,
    )
    with pytest.raises(Conflict, match="already has a drill schedule"):
        await estate.client.drill_schedule(PLAN, "0 3 * * 6")

    # It fires on its own; paused at once so that it starts no second drill while this one is checked.
    fired = await _first_run(estate)
    paused = await estate.client.drill_pause(PLAN)
    assert paused.paused, paused
    [workflow_id] = fired.recent_runs
    assert workflow_id.startswith(f"drill/{PLAN}-"), workflow_id
    drill: DrillReport = await estate.client.drill_result(workflow_id)

    assert drill.outcome == "succeeded" and drill.recorded, (
        drill.error,
        [(v.vm, v.outcome, v.error) for v in drill.vms],
    )
    assert [(v.vm, v.group) for v in drill.vms] == [("db-01", "databases"), ("app-01", "applications")]
    for vm in drill.vms:
        assert vm.test is not None and vm.checks_passed and vm.cleaned_up, vm
        assert vm.rto_s is not None and 0 < vm.rto_s <= 3600, vm  # measured, in host seconds, within the target
        assert vm.rpo_at_drill_s is not None and vm.rpo_unaffected is True, vm
        assert _test_vm(estate, vm.vm) is None
        _assert_production_untouched(estate, vm.vm, vm.test)
    # Group order: the application VM's test began after the database VM's was verified and cleaned up.
    db, app = (v.test for v in drill.vms)
    assert db is not None and app is not None and db.ended_at is not None and app.started_at is not None
    assert app.started_at >= db.ended_at
    # Its children are ordinary test failover runs, searchable by plan.
    [run] = await estate.client.runs(kind=DRILL_KIND)
    assert (run.workflow_id, run.status, run.phase) == (workflow_id, "completed", "done")

    # The evidence report: listed, measured RTO per VM against the target, every check.
    assert workflow_id in {r.workflow_id for r in await estate.client.reports()}
    report = await estate.client.report(workflow_id)
    assert (report.kind, report.plan, report.outcome, report.rto_target_s) == ("drill", PLAN, "succeeded", 3600)
    assert [row[0] for row in report.evidence] == list(VMS)
    for row, vm in zip(report.evidence, drill.vms, strict=True):
        cells = dict(zip(report.evidence_columns, row, strict=True))
        assert cells["RTO (host s)"] == f"{vm.rto_s:.0f} ✓" and cells["RTO target (s)"] == "3600"
        assert cells["checks passed"] == cells["clean-up confirmed"] == cells["production RPO unaffected"] == "yes"
    page = render(report, "html")
    assert "<h2>Evidence</h2>" in page and "<svg" in page and "production RPO unaffected" in page

    history = await estate.client.temporal.get_workflow_handle(workflow_id).fetch_history()
    if os.environ.get("HVDR_RECORD_HISTORIES") and not DRILL_HISTORY.exists():  # append-only
        DRILL_HISTORY.write_text(history.to_json(), encoding="utf-8")

    # Recorded for readiness: `hvdr check` no longer says the plan was never drilled.
    with session_for(estate.settings) as session:
        [row] = session.exec(select(RunRecordRow).where(RunRecordRow.kind == DRILL_KIND)).all()
        assert (row.subject, row.workflow_id, row.outcome) == (PLAN, workflow_id, "succeeded")
        assert row.started_by.startswith(f"schedule drill/{PLAN}")
    assert await _drill_findings() == []

    # List, resume, delete.
    [listed] = await estate.client.drill_schedules()
    assert listed.plan == PLAN and listed.paused and listed.recent_runs == [workflow_id]
    resumed = await estate.client.drill_resume(PLAN)
    assert not resumed.paused and resumed.next_runs, resumed
    assert await estate.client.drill_delete(PLAN) == f"drill/{PLAN}"
    with pytest.raises(NotFound, match="has no drill schedule"):
        await estate.client.drill_delete(PLAN)
    code, _, err = _cli("drill", "pause", "--plan", PLAN)
    assert code != 0 and "has no drill schedule" in err and len(err.strip().splitlines()) == 1, err

    await _reports_and_estate(estate, workflow_id, tmp_path)
    await _scheduled_check_raises_alerts(estate)


async def _reports_and_estate(estate: Estate, drill_id: str, tmp_path: Path) -> None:
    """`hvdr reports` lists the drill with its outcome; the estate report shows each protected VM's RPO history
    (from its host monitor), health, last successful drill and readiness."""
    code, out, err = _cli("reports", "-o", "json")
    assert code == 0, err
    listed = {row["workflow_id"]: row for row in json.loads(out)}
    assert (listed[drill_id]["kind"], listed[drill_id]["outcome"]) == ("drill", "done"), listed[drill_id]
    assert not {row["kind"] for row in listed.values()} & {"protection", "monitor", "check", "testfailover"}, listed

    with session_for(estate.settings) as session:
        request = check_request(session, "estate-report")
    report = await estate.client.estate(request)
    rows = {vm.vm: vm for vm in report.vms}
    assert set(VMS) <= set(rows), rows
    for name in VMS:
        vm = rows[name]
        assert vm.rpo_history_from == "monitor" and vm.rpo_history, vm
        times = [p.at for p in vm.rpo_history]  # one peak per 15 min of host time, oldest first
        assert times == sorted(set(times)) and all(p.rpo_s >= 0 for p in vm.rpo_history), vm.rpo_history
        assert (vm.health, vm.rpo_threshold_s) == ("Normal", 1800), vm
        assert vm.last_drill is not None and vm.last_drill.plan == PLAN, vm
        assert vm.readiness == "ready", vm.findings
    # The cloud's other VMs are not protected: the estate is not ready, and says which.
    assert report.ready is False
    assert ("vm-protected", "web-01") in {(f.check, f.subject) for f in report.estate_findings}

    page = tmp_path / "estate.html"  # the CLI's page (the check left out: it ran above)
    code, out, err = _cli("report", "estate", "--no-check", "-o", str(page))
    assert code == 0 and str(page) in out, err
    text = page.read_text(encoding="utf-8")
    assert "not checked" in text
    for name in VMS:  # a row per VM (its chart, or why there is none: the charts are drawn in tests/test_estate.py)
        assert f'<tr class="vm" data-vm="{name}">' in text, re.findall(r'<div class="msg">[^<]*', text)
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text


async def _until(condition, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        found = await condition()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.5)


async def _scheduled_check_raises_alerts(estate: Estate) -> None:
    """`hvdr check schedule`: each run's findings show as alerts of the VMs they concern in `hvdr status`, and go
    when a later run no longer finds them."""
    for args, wrong in (
        (("--every", "soon"), "--every 'soon' is not a duration"),
        (("--every", "10s"), "too often"),
        ((), "say when"),
        (("--every", "1h", "--cloud", "no-such-cloud"), "unknown cloud 'no-such-cloud'"),
    ):
        code, out, err = _cli("check", "schedule", *args)
        assert code != 0 and wrong in err and len(err.strip().splitlines()) == 1, (out, err)
    assert await estate.client.check_schedules() == []
    code, out, err = _cli("check", "schedule", "--cron", EVERY_5_SECONDS, "-o", "json")
    assert code == 0, err
    created = CheckSchedule.model_validate(json.loads(out))
    assert (created.schedule_id, created.scope) == ("check/estate", "estate"), created
    try:
        [status] = [s for s in await estate.client.protection_statuses() if s.vm == "db-01"]

        async def alerted() -> list[str]:
            [row] = [s for s in await estate.client.protection_statuses() if s.vm == "db-01"]
            return [a.message for a in row.open_alerts if a.kind is AlertKind.READINESS and "test-network" in a.message]

        with _switch_removed(estate, status.replica_host, "vSwitch-DR-Test"):
            [message] = await _until(alerted)
            assert status.replica_host in message and "vSwitch-DR-Test" in message and "fix:" in message
            code, out, err = _cli("status", "-o", "json")
            row = next(r for r in json.loads(out) if r["vm"] == "db-01")
            assert any(a["kind"] == "readiness" and a["severity"] == "critical" for a in row["open_alerts"]), row
            not_ready = [
                r
                async for r in estate.client.temporal.list_workflows(
                    "WorkflowType = 'ScheduledCheck' AND HvdrPhase = 'not-ready'"
                )
            ]
            assert not_ready and all(r.id.startswith("readiness/estate-") for r in not_ready)
            recorded = await estate.client.temporal.get_workflow_handle(not_ready[0].id).fetch_history()
            if os.environ.get("HVDR_RECORD_HISTORIES") and not SCHEDULED_CHECK_HISTORY.exists():  # append-only
                SCHEDULED_CHECK_HISTORY.write_text(recorded.to_json(), encoding="utf-8")
        # The switch is back: the next run no longer finds it, and the alert is gone.
        await _until(lambda: _none(alerted))
        [listed] = await estate.client.check_schedules()
        assert listed.recent_runs and listed.last, listed
    finally:
        code, out, err = _cli("check", "delete")
    assert code == 0 and "check/estate" in out, err
    code, _, err = _cli("check", "delete")
    assert code != 0 and "no scheduled check of 'estate'" in err and len(err.strip().splitlines()) == 1, err


async def _none(condition) -> bool:  # type: ignore[no-untyped-def]
    return not await condition()
