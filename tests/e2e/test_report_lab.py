"""`hvdr report` of a real planned failover against the lab over WinRM: the report's steps are the run's, who
started it is the client's identity, the RTO is measured against the plan that holds the VM, and the lab's disk
checksums prove that no block was lost; the CLI writes the HTML and lists the run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hvdr.cli.main import app
from hvdr.errors import NotFound
from hvdr.failover import PLANNED_STEPS, Step
from tests.cli.helpers import Result
from tests.e2e.conftest import Estate
from tests.e2e.test_failover_lab import _protected, _spec

pytestmark = pytest.mark.slow


async def _hvdr(*args: str) -> Result:
    """The CLI in this process (a subprocess costs seconds of imports on a busy machine), on its own thread and
    event loop, with the estate's environment."""
    done = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return Result(done.exit_code, done.stdout, done.stderr)


async def test_the_report_of_a_planned_failover_matches_the_run(estate: Estate, tmp_path: Path) -> None:
    await _protected(estate, "db-02")
    run = await estate.client.failover_planned(_spec(estate, "db-02"))
    assert run.outcome == "succeeded", run

    report = await estate.client.report("FAILOVER/DB-02")
    [vm] = report.vms
    assert (report.run_id, report.kind, report.operation, report.status) == (
        "failover/db-02",
        "failover",
        "planned",
        "completed",
    )
    assert [(s.name, s.started_at, s.ended_at, s.outcome, s.message) for s in vm.steps] == [
        (s.step.value, s.started_at, s.ended_at, s.outcome, s.detail) for s in run.steps
    ]
    assert [s.name for s in vm.steps] == [s.value for s in PLANNED_STEPS]
    assert report.started_by == estate.settings.identity
    assert (vm.source, vm.now_runs_on) == (run.source.host, run.target.host)
    # db-02 belongs to plan three-tier (target 3600 s); the lab's clock ran at the run's time scale.
    assert (report.rto_target_s, report.rto_target_from) == (3600, "plan three-tier, which holds db-02")
    assert report.time_scale == run.time_scale > 1
    assert vm.rto_s is not None and report.rto_s is not None and 0 < vm.rto_s < report.rto_s
    assert report.met_target is True
    shutdown = next(s for s in run.steps if s.step is Step.SHUTDOWN)
    verify = next(s for s in run.steps if s.step is Step.VERIFY)
    assert vm.down_at == shutdown.started_at and vm.up_at == verify.ended_at
    # Data loss: zero by the planned sequence, and measured by the lab's checksums of both copies at the failover.
    assert vm.data_loss is not None and vm.data_loss.lost_s == 0
    assert report.attach_checksums(estate.control("GET", "/failovers"), "the lab") == 1
    proof = vm.data_loss.checksums
    assert proof is not None and proof.equal and proof.blocks_lost == 0, proof

    with pytest.raises(NotFound, match="no report"):
        await estate.client.report("protect/db-02")

    page = tmp_path / "out" / "db-02.html"
    written = await _hvdr("report", "failover/db-02", "--format", "html", "-o", str(page))
    assert written.code == 0, written.out + written.err
    assert str(page.resolve()) in written.out.replace("\n", "")
    html = page.read_text(encoding="utf-8")
    assert html.count('<rect class="bar"') == len(PLANNED_STEPS), html
    assert "disk checksums equal" in html, "the CLI adds the lab's checksums"
    listed = await _hvdr("report", "--format", "json")
    assert listed.code == 0, listed.out + listed.err
    runs = {row["workflow_id"]: row for row in json.loads(listed.out)}
    assert runs["failover/db-02"]["status"] == "completed" and "protect/db-02" not in runs, runs
