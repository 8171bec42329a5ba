"""Choosing a recovery point and reading the unplanned-failover options: what an operator types is what runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hvdr.durations import parse_duration
from hvdr.failover import FailoverReport, Step
from hvdr.protection import Endpoint
from hvdr.recovery_points import LATEST, LATEST_APP_CONSISTENT, RecoveryPointInfo, choose_point, parse_point
from hvdr.unplanned import UnplannedReport, UnplannedSpec, UnplannedState

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
POINTS = [
    RecoveryPointInfo(id="11111111-1111-1111-1111-111111111111", time=T0, type="application-consistent"),
    RecoveryPointInfo(id="22222222-2222-2222-2222-222222222222", time=T0 + timedelta(hours=1), type="standard"),
    RecoveryPointInfo(id=LATEST, time=T0 + timedelta(hours=1, minutes=20), type="standard"),
]


@pytest.mark.parametrize(
    ("choice", "chosen"),
    [
        (LATEST, LATEST),
        (LATEST_APP_CONSISTENT, POINTS[0].id),
        (POINTS[1].id.upper(), POINTS[1].id),
        ("2026-12-01T11:10:00+00:00", POINTS[1].id),  # the newest point at or before the time
        ("2026-12-01T11:30:00+00:00", LATEST),
        ("2026-12-01T10:59:59", POINTS[0].id),  # a time without zone is UTC
    ],
)
def test_a_point_choice_picks_the_point_it_names(choice: str, chosen: str) -> None:
    assert choose_point(POINTS, parse_point(choice)).id == chosen


def test_impossible_choices_say_why() -> None:
    with pytest.raises(ValueError, match="not latest, latest-app-consistent, a time"):
        parse_point("yesterday")
    with pytest.raises(ValueError, match="no recovery point at or before"):
        choose_point(POINTS, parse_point("2026-12-01T09:00:00Z"))
    with pytest.raises(ValueError, match="no application-consistent"):
        choose_point(POINTS[1:], LATEST_APP_CONSISTENT)
    with pytest.raises(ValueError, match="no recovery point"):
        choose_point([], LATEST)


def test_durations() -> None:
    seconds = [parse_duration(v, "--auto-commit-after") for v in ("90", "90s", "15m", "1h30m", "2d")]
    assert seconds == [90, 90, 900, 5400, 172800]
    with pytest.raises(ValueError, match=r"--auto-commit-after .* not a duration"):
        parse_duration("5 minutes", "--auto-commit-after")


def test_the_report_states_the_data_lost_and_reads_as_a_failover_report() -> None:
    spec = UnplannedSpec(vm="db-01", source=Endpoint(site="site-a", host="a"), target=Endpoint(site="site-b", host="b"))
    state = UnplannedState(spec=spec, point=POINTS[1], failed_over_at=POINTS[1].time + timedelta(minutes=42))  # type: ignore[operator]
    state.outcome = "waiting"
    report = UnplannedReport.of_unplanned("failover/db-01", state)
    assert report.data_loss_s == 42 * 60 and report.now_runs_on.host == "b" and report.kind == "unplanned"
    plain = FailoverReport.model_validate(report.model_dump(mode="json"))  # an older reader ignores the rest
    assert plain.outcome == "waiting"


def test_hvdr_report_states_the_data_lost_of_an_unplanned_failover() -> None:
    from hvdr.failover import StepRecord
    from hvdr.report import REPORT_SOURCES, RunFacts

    spec = UnplannedSpec(vm="db-01", source=Endpoint(site="site-a", host="a"), target=Endpoint(site="site-b", host="b"))
    start = T0 + timedelta(hours=2)
    steps = [
        StepRecord(step=s, started_at=start, ended_at=start + timedelta(seconds=5), outcome="done")
        for s in (Step.PREFLIGHT, Step.FENCE, Step.FAILOVER, Step.START, Step.VERIFY, Step.COMMIT)
    ]
    state = UnplannedState(spec=spec, point=POINTS[0], failed_over_at=start, steps=steps, outcome="committed")
    result = UnplannedReport.of_unplanned("failover/db-01", state).model_dump(mode="json")
    report = REPORT_SOURCES["UnplannedFailover"].convert(result, RunFacts(status="completed"))
    [vm] = report.vms
    assert vm.data_loss is not None and vm.data_loss.lost_s == 7200 and vm.up_at is not None
