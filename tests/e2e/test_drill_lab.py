"""Scheduled drills against the lab: a schedule whose cron fires within seconds runs a drill of a two-group plan
(test failovers in group order, verified, cleaned up, production untouched and its RPO in range); the evidence
report shows the measured RTO per VM against the plan's target; the outcome reaches the runs table, so
`hvdr check` stops warning that the plan was never drilled; pause, resume, delete and the CLI's one-line errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from hvdr.drill import DrillReport, DrillSchedule
from hvdr.errors import Conflict, NotFound
from hvdr.inventory.db import session_for
from hvdr.inventory.readiness import DRILL_KIND
from hvdr.inventory.tables import RecoveryPlanRow, RunRecordRow
from hvdr.report_render import render
from hvdr.topology import RecoveryPlan
from tests.cli.helpers import hvdr
from tests.e2e.conftest import Estate
from tests.e2e.test_check_lab import _check
from tests.e2e.test_protection_lab import _protect, _wait
from tests.e2e.test_testfailover_lab import _assert_production_untouched, _test_vm
from tests.workflows.test_drill_replay import DRILL_HISTORY

pytestmark = pytest.mark.slow

PLAN = "drill-pair"
VMS = ("db-01", "app-01")
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


async def test_a_scheduled_drill_runs_on_schedule_and_leaves_its_evidence(drills: Estate) -> None:
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
