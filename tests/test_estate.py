"""The estate report: the monitor's RPO history stays bounded and keeps peaks; findings land on the VMs they
concern (the VM or its hosts) and the rest on the estate; the page is self-contained, hostile names stay text, and
a real browser draws each VM's RPO chart; a scheduled check's findings show as alerts of those VMs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hvdr.client import with_readiness
from hvdr.estate import DrillMark, EstateReport, RpoPoint, assemble
from hvdr.estate_render import render_estate
from hvdr.monitor import RPO_BUCKET_S, RPO_BUCKETS, MonitorState, RpoSeries, Watch
from hvdr.protection import AlertKind, Phase, ProtectionStatus, Reading, Severity
from hvdr.readiness import CheckReport, Finding, ReadinessAlerts
from hvdr.readiness import Severity as FindingSeverity
from hvdr.replication import ReplicationHealth, ReplicationState
from tests.test_report import CHROMIUM, HOSTILE, chromium_probe

T0 = datetime(2026, 12, 2, 0, 0, 0, tzinfo=UTC)
A1, B1 = "hv-a1.site-a.lab.local", "hv-b1.site-b.lab.local"


def _status(vm: str, primary: str = A1, replica: str = B1) -> ProtectionStatus:
    return ProtectionStatus(
        vm=vm,
        phase=Phase.REPLICATING,
        primary_site="site-a",
        primary_host=primary,
        replica_site="site-b",
        replica_host=replica,
        replication_state=ReplicationState.REPLICATING,
        health=ReplicationHealth.NORMAL,
        rpo_s=42.0,
        policy="gold",
        workflow_id=f"protect/{vm.lower()}",
    )


def _finding(subject: str, check: str = "vm-health", severity: FindingSeverity = FindingSeverity.ERROR) -> Finding:
    return Finding(check=check, severity=severity, subject=subject, message=f"{check} of {subject}", fix="do it")


def test_the_rpo_history_keeps_the_peak_per_bucket_and_stays_bounded() -> None:
    series = RpoSeries()
    series.add(T0, 30.0)
    series.add(T0 + timedelta(seconds=60), 290.0)
    series.add(T0 + timedelta(seconds=120), 10.0)  # the same 15 minutes: the peak stays
    series.add(T0 + timedelta(seconds=3 * RPO_BUCKET_S), 20.0)  # two buckets without a measurement between
    assert series.points() == [(T0, 290.0), (T0 + timedelta(seconds=3 * RPO_BUCKET_S), 20.0)]
    assert series.peaks == [290.0, None, None, 20.0]
    series.add(T0 - timedelta(hours=1), 999.0)  # a host clock set back: ignored, history goes forward only
    assert series.peaks[0] == 290.0
    for hour in range(48):  # two days of host time: only the last 24 hours are kept
        series.add(T0 + timedelta(hours=hour), float(hour))
    assert len(series.peaks) == RPO_BUCKETS
    assert series.points()[-1] == (T0 + timedelta(hours=47), 47.0)
    assert len(RpoSeries(peaks=[1000.0] * RPO_BUCKETS).model_dump_json()) < 1000  # bounded: ~600 bytes a VM


def test_the_monitor_records_each_reading_and_forgets_a_vm_that_leaves() -> None:
    state = MonitorState(host=A1, site="site-a")
    state.watch(Watch(vm="db-01", site="site-a", host=A1), T0)
    reading = Reading(
        state=ReplicationState.REPLICATING,
        health=ReplicationHealth.NORMAL,
        last_replication=T0 - timedelta(seconds=75),
        host_time=T0,
    )
    state.record_rpo("db-01", reading)
    assert state.rpo_history["db-01"].points() == [(T0, 75.0)]
    state.unwatch("DB-01")
    assert state.rpo_history == {}


def _estate() -> EstateReport:
    check = CheckReport(
        check_id="c1",
        checked_at=T0,
        hosts=2,
        vms=2,
        plans=1,
        findings=[
            _finding("db-01"),
            _finding("three-tier/app-01", "failover-ip"),
            _finding(B1.upper(), "test-network"),  # db-01's replica host, as Windows spells it
            _finding("web-01", "vm-protected"),  # a VM that is not protected: the estate's
            _finding("three-tier", "drill", FindingSeverity.WARNING),
        ],
    )
    history = [RpoPoint(at=T0 + timedelta(minutes=15 * i), rpo_s=rpo) for i, rpo in enumerate((30, 60, 2400, 90))]
    return assemble(
        [
            _status("db-01"),
            _status("app-01", replica="hv-b2.site-b.lab.local"),
            _status(HOSTILE, primary="hv-a2", replica="hv-b2"),
        ],
        {"db-01": ("monitor", history), HOSTILE.lower(): ("monitor", history[:1])},
        {"db-01": 1800},
        {"db-01": DrillMark(plan="three-tier", at=T0)},
        check,
        T0 + timedelta(hours=1),
    )


def test_findings_go_to_the_vms_they_concern_and_the_rest_to_the_estate() -> None:
    report = _estate()
    rows = {vm.vm: vm for vm in report.vms}
    assert {(f.check, f.subject) for f in rows["db-01"].findings} == {
        ("vm-health", "db-01"),
        ("test-network", B1.upper()),
    }
    assert [f.check for f in rows["app-01"].findings] == ["failover-ip"]
    assert rows["db-01"].readiness == rows["app-01"].readiness == "not ready"
    assert rows[HOSTILE].readiness == "ready" and rows[HOSTILE].last_drill is None
    assert {(f.check, f.subject) for f in report.estate_findings} == {
        ("test-network", B1.upper()),
        ("vm-protected", "web-01"),
        ("drill", "three-tier"),
    }
    assert report.ready is False
    unchecked = assemble([_status("db-01")], {}, {}, {}, None, T0, check_error="Temporal is down")
    assert unchecked.vms[0].readiness == "not checked" and unchecked.ready is None


def test_the_page_is_self_contained_and_hostile_names_stay_text() -> None:
    page = render_estate(_estate(), "html")
    assert "<script" not in page.replace("&lt;script", "") and "<img" not in page
    assert not re.search(r"""(src|href)=["']?https?:""", page), "nothing is fetched"
    assert page.count('<svg class="rpo-chart"') == 2  # app-01 has no measurement yet: it says so
    assert "no RPO measured yet" in page and 'class="threshold"' in page
    assert EstateReport.model_validate_json(render_estate(_estate(), "json")).vms[0].vm == "app-01"
    with pytest.raises(ValueError, match="unknown estate report format"):
        render_estate(_estate(), "md")


CHART_PROBE = """<script>
const charts = [...document.querySelectorAll('svg.rpo-chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  const line = svg.querySelector('polyline.rpo');
  const points = [...svg.querySelectorAll('circle.rpo-point')].map(c => {
    const r = c.getBoundingClientRect();
    return {y: r.top - box.top, fill: getComputedStyle(c).fill};
  });
  return {vm: svg.dataset.vm, width: box.width, height: box.height,
          line: line ? line.getBBox().width : 0, points: points};
});
document.body.setAttribute('data-charts', JSON.stringify(charts));
document.body.setAttribute('data-title', document.title);
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_chromium_draws_an_rpo_chart_per_measured_vm(tmp_path: Path) -> None:
    page = render_estate(_estate(), "html")
    probed = tmp_path / "estate.html"
    probed.write_text(page.replace("</body>", CHART_PROBE + "</body>"), encoding="utf-8")
    dom, charts = chromium_probe(probed, "data-charts")
    assert [c["vm"] for c in charts] == ["db-01", HOSTILE]
    db = charts[0]
    assert db["width"] > 200 and db["height"] > 40 and db["line"] > 200, db
    ys = [p["y"] for p in db["points"]]
    assert len(ys) == 4 and ys[2] < ys[1] < ys[0], ys  # higher RPO, higher on the chart
    assert db["points"][2]["fill"] == "rgb(198, 40, 40)" and db["points"][0]["fill"] == "rgb(21, 101, 192)"
    title = re.search(r'data-title="([^"]*)"', dom)
    assert title and title.group(1).startswith("hvdr estate report"), "a VM's name ran as a script"


def test_a_scheduled_checks_findings_are_alerts_of_the_vms_they_concern() -> None:
    alerts = ReadinessAlerts(
        schedule_id="check/estate",
        check_id="c1",
        checked_at=T0,
        ready=False,
        errors=1,
        warnings=1,
        findings=[
            _finding(B1, "test-network"),
            _finding("db-01", "vm-health", FindingSeverity.WARNING),
            _finding("three-tier", "drill"),
        ],
    )
    db = with_readiness(_status("db-01"), [alerts])
    assert [(a.kind, a.severity) for a in db.open_alerts] == [
        (AlertKind.READINESS, Severity.CRITICAL),
        (AlertKind.READINESS, Severity.WARNING),
    ]
    assert "fix: do it" in db.open_alerts[0].message and db.open_alerts[0].raised_at == T0
    other = _status("web-01", primary="hv-a2", replica="hv-b2")
    assert with_readiness(other, [alerts]) is other
