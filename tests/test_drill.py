"""Drill vocabulary without a server: cron refusals name the fix, and a drill's evidence report keeps hostile names
as text in every format."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hvdr.drill import DrillReport, VMEvidence, check_cron
from hvdr.report import RunFacts, from_drill
from hvdr.report_render import render


@pytest.mark.parametrize("cron", ["0 3 * * 6", "*/5 * * * * * *", "@daily", " 0  3 * * 6 "])
def test_cron_forms_temporal_takes(cron: str) -> None:
    assert check_cron(cron) == " ".join(cron.split())


def test_a_cron_of_the_wrong_shape_names_the_form() -> None:
    with pytest.raises(ValueError, match=r"has 2 field\(s\): write 5 .*\"0 3 \* \* 6\""):
        check_cron("every saturday")


def test_the_evidence_of_a_drill_keeps_hostile_names_as_text() -> None:
    hostile = "<script>alert(1)</script>|*x*"
    at = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    drill = DrillReport(
        workflow_id="drill/p-2026-12-02T03:00:00Z",
        plan="p",
        outcome="failed",
        rto_target_s=600,
        vms=[VMEvidence(vm=hostile, group="g", outcome="refused", error=f"{hostile} is not protected")],
        started_at=at,
        ended_at=at,
    )
    report = from_drill(drill, RunFacts(generated_at=at))
    assert report.evidence[0][:3] == [hostile, "g", "refused"] and report.met_target is False
    page = render(report, "html")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<h2>Evidence</h2>" in page
    assert "<script>" not in render(report, "md")
