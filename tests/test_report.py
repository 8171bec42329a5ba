"""Run reports: a failover report converts step for step; RTO and data loss are what the definitions say; the
HTML is one self-contained page whose chart a real browser draws, and hostile names and host messages stay
text in every format."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from hvdr.actions import ActionRecord
from hvdr.failover import PLANNED_STEPS, FailoverReport, Step, StepRecord
from hvdr.plan import GroupRecord, PlanReport, PlanVMReport, TimelineStep
from hvdr.protection import Endpoint
from hvdr.report import REPORT_SOURCES, Approval, ReportStep, RunFacts, RunReport, from_failover, vm_timeline
from hvdr.report_render import render

T0 = datetime(2026, 12, 2, 1, 0, 0, tzinfo=UTC)
HOSTILE = 'db-01"><script>document.title="pwned"</script><img src=x onerror=alert(1)>|`*'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _failover(
    vm: str = "db-01",
    *,
    fail_at: Step | None = None,
    message: str = "ok",
    time_scale: float = 1.0,
    start: datetime = T0,
) -> FailoverReport:
    steps, at = [], start
    for index, step in enumerate(Step):
        ended = at + timedelta(seconds=1 + index)
        failed = step is fail_at
        steps.append(
            StepRecord(step=step, started_at=at, ended_at=ended, outcome="failed" if failed else "done", detail=message)
        )
        at = ended
        if failed:
            break
    undone = []
    if fail_at is not None:
        for record in steps:
            if record.outcome == "done" and record.step is not Step.PREFLIGHT:
                record.outcome = "undone"
        undone = [f"started {vm} again on hv-a1 (Start-VM unless it was running), because {fail_at.value} failed"]
    return FailoverReport(
        workflow_id=f"failover/{vm.lower()}",
        vm=vm,
        kind="planned",
        outcome="rolled_back" if fail_at else "succeeded",
        source=Endpoint(site="site-a", host="hv-a1"),
        target=Endpoint(site="site-b", host="hv-b1"),
        now_runs_on=Endpoint(site="site-a" if fail_at else "site-b", host="hv-a1" if fail_at else "hv-b1"),
        steps=steps,
        undone=undone,
        error=f"{fail_at.value}: {message}" if fail_at else None,
        failed_step=fail_at,
        started_at=steps[0].started_at,
        ended_at=steps[-1].ended_at,
        time_scale=time_scale,
    )


def test_a_failover_converts_step_for_step_with_rto_and_zero_data_loss() -> None:
    report = from_failover(
        _failover(time_scale=60.0), RunFacts(started_by="alice@ops", rto_target_s=3600, rto_target_from="plan x")
    )
    [vm] = report.vms
    assert [s.name for s in vm.steps] == [s.value for s in Step]
    assert all(s.outcome == "done" and s.seconds is not None for s in vm.steps)
    # Down at the shutdown's start (after the 1 s preflight), up at verify's end: steps 2..7 last 2+3+…+7 s.
    assert vm.rto_s == pytest.approx(sum(range(2, 8)))
    assert report.rto_s == pytest.approx(sum(range(1, 8)))  # the run: first step to the last VM verified
    assert report.host_seconds(report.rto_s) == pytest.approx(28 * 60)
    assert report.met_target is True
    assert vm.data_loss is not None and vm.data_loss.lost_s == 0 and "Prepare" in vm.data_loss.basis
    assert report.started_by == "alice@ops" and report.operation == "planned"
    assert from_failover(_failover(time_scale=200.0), RunFacts(rto_target_s=3600)).met_target is False
    # JSON carries the derived figures, and reads back into the model.
    data = json.loads(render(report, "json"))
    assert data["rto_s"] == pytest.approx(28) and data["met_target"] is True
    assert data["vms"][0]["rto_s"] == pytest.approx(27)
    assert RunReport.model_validate(data).vms[0].steps[3].name == "failover"


def test_a_rolled_back_failover_reports_compensation_and_no_rto() -> None:
    report = from_failover(_failover(fail_at=Step.VERIFY, message="no heartbeat"), RunFacts(rto_target_s=600))
    [vm] = report.vms
    assert vm.rto_s is None and report.rto_s is None and report.met_target is False
    assert [s.outcome for s in vm.steps][-1] == "failed" and "undone" in [s.outcome for s in vm.steps]
    assert vm.compensation and "Start-VM" in vm.compensation[0]
    assert vm.data_loss is not None and vm.data_loss.lost_s == 0  # a planned failover loses nothing either way
    page = render(report, "html")
    assert "Start-VM unless it was running" in page and "not recovered" in page
    assert "MISSED (not every VM was recovered)" in page
    assert "Start-VM unless it was running" in render(report, "md")


def test_checksums_measured_at_the_failover_show_in_the_report() -> None:
    report = from_failover(_failover(), RunFacts())
    row = {"vm": "DB-01", "source_host": "hv-a1.site-a.lab.local", "replica_host": "HV-B1", "blocks_lost": 0}
    rows = [
        {**row, "source_checksum": "00" * 32, "replica_checksum": "11" * 32},  # an earlier failover
        {**row, "source_host": "hv-b1", "replica_host": "hv-a1", "source_checksum": "22" * 32},  # other direction
        {**row, "source_checksum": "ab" * 32, "replica_checksum": "ab" * 32},
    ]
    assert report.attach_checksums(rows, "the lab's GET /failovers") == 1
    loss = report.vms[0].data_loss
    assert loss is not None and loss.checksums is not None and loss.checksums.equal
    assert loss.checksums.source_checksum == "ab" * 32 and loss.checksums.blocks_lost == 0
    assert "disk checksums equal" in render(report, "md")


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs


def test_the_page_is_self_contained_and_hostile_text_stays_text() -> None:
    report = from_failover(_failover(HOSTILE, fail_at=Step.START, message=f"<b>host</b> said {HOSTILE}"), RunFacts())
    page = render(report, "html")
    parsed = _Elements()
    parsed.feed(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert not [name for name, _ in parsed.attributes if name.startswith("on")]
    assert set(parsed.tags) >= {"svg", "rect", "table", "style"}
    # Nothing is fetched: no external script, stylesheet, font, image or url(); only the SVG namespace.
    assert not re.search(r"<(script|link|iframe|object|embed)\b|@import|url\(", page)
    assert not [name for name, _ in parsed.attributes if name in ("src", "href", "srcset")]
    assert re.findall(r"https?://[^\s\"']+", page) == ["http://www.w3.org/2000/svg"]
    assert "db-01&quot;&gt;&lt;script&gt;" in page
    text = render(report, "md")
    assert "<script" not in text and "<b>" not in text
    step_rows = [line for line in text.splitlines() if line.startswith("| db-01")]
    # Every row has the table's seven cells: the message's `|` cannot add a column.
    assert step_rows and all(len(re.findall(r"(?<!\\)\|", row)) == 8 for row in step_rows[1:]), step_rows


BAR_PROBE = """<script>
const bars = [...document.querySelectorAll('svg#timeline rect.bar')].map(r => {
  const box = r.getBoundingClientRect();
  return {vm: r.dataset.vm, step: r.dataset.step, outcome: r.dataset.outcome, width: box.width, height: box.height,
          fill: getComputedStyle(r).fill};
});
document.body.setAttribute('data-bars', JSON.stringify(bars));
document.body.setAttribute('data-title', document.title);
</script>"""


def chromium_probe(page: Path, attribute: str) -> tuple[str, Any]:
    """Headless Chromium loads the page (its probe script set ``attribute`` on the body): the DOM it leaves, and the
    attribute's JSON."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(attribute + r"=\"([^\"]*)\"", done.stdout)
    assert found, done.stdout[:2000]
    text = found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return done.stdout, json.loads(text)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_chromium_renders_the_timeline_with_a_bar_per_step(tmp_path: Path) -> None:
    report = from_failover(_failover(HOSTILE, fail_at=Step.VERIFY, message=HOSTILE), RunFacts(rto_target_s=60))
    page = render(report, "html")
    # The probe is added by the test only: it measures the bars as the browser laid them out.
    probed = tmp_path / "report.html"
    probed.write_text(page.replace("</body>", BAR_PROBE + "</body>"), encoding="utf-8")
    dom, bars = chromium_probe(probed, "data-bars")
    steps = report.vms[0].steps
    assert [(b["vm"], b["step"], b["outcome"]) for b in bars] == [(HOSTILE, s.name, s.outcome) for s in steps]
    assert all(b["width"] > 0 and b["height"] > 0 for b in bars), bars
    # Longer steps draw longer bars, and the outcome picks the colour.
    assert bars[2]["width"] > bars[1]["width"] > bars[0]["width"]
    assert {b["fill"] for b in bars if b["outcome"] == "failed"} == {"rgb(198, 40, 40)"}
    title = re.search(r'data-title="([^"]*)"', dom)
    assert title and title.group(1).startswith("hvdr report — failover/db-01"), "the VM's name ran as a script"
    assert "<img" not in dom and "<script>document" not in dom


def test_html_without_a_run_is_a_one_line_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hvdr.cli.main import app

    done = CliRunner().invoke(app, ["report", "--format", "html"], env={"HVDR_HOME": str(tmp_path)})
    assert done.exit_code == 2
    assert done.stderr.startswith("error: name the run to report on") and len(done.stderr.splitlines()) == 1


def test_a_plan_shaped_report_has_a_lane_per_vm_actions_and_approvals() -> None:
    """What a recovery plan's converter builds: VM lanes from each VM's failover report, the plan's actions and
    a manual step's approval with who decided; the run's RTO ends at its last VM verified."""
    later = timedelta(seconds=30)
    db = vm_timeline(_failover("db-01"), group="databases")
    web = vm_timeline(_failover("web-01", start=T0 + later), group="web")
    approved = T0 + timedelta(seconds=60)
    report = RunReport(
        run_id="plan/three-tier/1",
        kind="plan",
        operation="planned",
        title="planned failover of plan three-tier",
        plan="three-tier",
        started_by="alice@ops",
        outcome="succeeded",
        started_at=T0,
        ended_at=approved,
        vms=[db, web],
        actions=[
            ReportStep(name="switch-dns", started_at=T0 + later, ended_at=approved, outcome="approved", group="web")
        ],
        approvals=[Approval(step="switch-dns", decision="approved", by="bob@dr-team", at=approved, comment="DNS done")],
        rto_target_s=120,
        generated_at=approved,
    )
    assert [lane for lane, _ in report.timeline()] == ["db-01", "web-01", "plan actions"]
    assert report.rto_s == pytest.approx(30 + sum(range(1, 8)))
    assert report.met_target is True
    page, text = render(report, "html"), render(report, "md")
    assert page.count('<rect class="bar"') == 2 * len(Step) + 1
    assert 'data-step="switch-dns"' in page and "bob@dr-team" in page and "(group web)" in page
    assert "switch\\-dns: approved by bob@dr\\-team" not in text and "switch-dns: approved by bob@dr-team" in text


def test_a_plan_run_reports_a_lane_per_vm_its_actions_and_who_approved() -> None:
    """``hvdr report plan/…``: the plan's own result converts — each VM's steps in its group's lane, the RTO from
    its shutdown to its verify, zero loss for a planned move, and the manual step's decision with who made it."""
    steps = list(PLANNED_STEPS)
    bars = [
        TimelineStep(
            lane="db-01",
            group="databases",
            step=s.value,
            started_at=T0 + timedelta(seconds=i),
            ended_at=T0 + timedelta(seconds=i + 1),
            outcome="done",
        )
        for i, s in enumerate(steps)
    ]
    decided = T0 + timedelta(seconds=20)
    switch = ActionRecord(
        name="switch-dns",
        group="web",
        when="after",
        type="manual",
        outcome="approved",
        started_at=T0 + timedelta(seconds=12),
        ended_at=decided,
        decided_by="bob@dr-team",
        decided_at=decided,
        reason="DNS <done>",
    )
    plan = PlanReport(
        workflow_id="plan/three-tier/2",
        plan="three-tier",
        kind="planned",
        outcome="succeeded",
        on_failure="stop",
        failback=True,
        already_home=["app-01"],
        started_at=T0,
        ended_at=decided,
        rto_target_s=3600,
        time_scale=300,
        groups=[GroupRecord(name="databases", outcome="done")],
        vms=[
            PlanVMReport(
                vm="db-01",
                group="databases",
                outcome="succeeded",
                source_host="hv-b1.site-b.lab.local",
                target_host="hv-a1.site-a.lab.local",
            )
        ],
        actions=[switch],
        timeline=bars,
    )
    report = REPORT_SOURCES["Plan"].convert(plan.model_dump(mode="json"), RunFacts(started_by="alice@ops"))
    assert (report.kind, report.title, report.started_by) == ("plan", "failback of plan three-tier", "alice@ops")
    [vm] = report.vms
    assert (vm.group, vm.now_runs_on, [s.name for s in vm.steps]) == (
        "databases",
        "hv-a1.site-a.lab.local",
        [s.value for s in steps],
    )
    verify = steps.index(Step.VERIFY)
    assert vm.rto_s == verify + 1 - steps.index(Step.SHUTDOWN)
    assert vm.data_loss is not None and vm.data_loss.lost_s == 0.0
    assert [(a.step, a.decision, a.by, a.comment) for a in report.approvals] == [
        ("switch-dns", "approved", "bob@dr-team", "DNS <done>")
    ]
    assert report.rto_target_s == 3600 and report.met_target is True and report.time_scale == 300
    page = render(report, "html")
    assert 'data-step="switch-dns"' in page and "bob@dr-team" in page and "DNS &lt;done&gt;" in page
