"""``hvdr failover unplanned`` and ``hvdr commit`` refuse bad input with one line, before they touch anything."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import assert_one_line_error, free_port_pair, home_env, hvdr


def test_unplanned_failover_input_errors(tmp_path: Path) -> None:
    env = home_env(tmp_path, free_port_pair())
    assert_one_line_error(
        hvdr("failover", "unplanned", "--vm", "db-01", "--point", "yesterday", env=env), "--point 'yesterday'"
    )
    assert_one_line_error(hvdr("commit", "--vm", "db-01", env=env), "cannot reach Temporal")
