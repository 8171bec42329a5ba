"""``hvdr failover test`` refuses unclear input with one line (exit 2 / 4), before it touches anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvdr.durations import parse_duration
from hvdr.testfailover import RecoveryPointChoice
from hvdr.topology import default_topology_path
from tests.cli.helpers import assert_one_line_error, free_port_pair, home_env, hvdr


def test_test_failover_input_errors(tmp_path: Path) -> None:
    env = home_env(tmp_path, free_port_pair())
    assert hvdr("apply", "-f", str(default_topology_path()), env=env).code == 0
    assert_one_line_error(hvdr("failover", "test", "--vm", "db-01", "--keep", "3x", env=env), "--keep '3x'")
    assert_one_line_error(hvdr("failover", "test", "--vm", "no\x1b[2Jpe", env=env), "unknown VM 'no\\x1b[2Jpe'")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("30m", 1800.0), ("8H", 28800.0), ("3d", 259200.0), ("45", 45.0), ("0", 0.0), ("1h30m", 5400.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "--keep") == seconds


@pytest.mark.parametrize("text", ["", "m", "-5m", "nan", "infs", "1w"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(ValueError, match="--keep"):
        parse_duration(text, "--keep")


def test_recovery_point_choices() -> None:
    assert RecoveryPointChoice.parse("LATEST").kind == "latest"
    assert RecoveryPointChoice.parse("latest-app-consistent").kind == "latest-app-consistent"
    point = RecoveryPointChoice.parse("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
    assert point.kind == "id" and str(point.id) == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    at = RecoveryPointChoice.parse("2026-12-01T10:00:00Z")
    assert at.kind == "time" and at.at is not None and at.at.utcoffset() is not None
    naive = RecoveryPointChoice.parse("2026-12-01T10:00:00")
    assert naive.at == at.at, "a time without a zone is UTC, as for unplanned failover"
    with pytest.raises(ValueError, match="--point"):
        RecoveryPointChoice.parse("last week")
