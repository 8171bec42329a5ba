"""``hvdr check`` refuses an unknown scope before it starts anything, in one line."""

from __future__ import annotations

from pathlib import Path

from hvdr.topology import default_topology_path
from tests.cli.helpers import assert_one_line_error, free_port_pair, home_env, hvdr


def test_unknown_scope_and_unreachable_temporal_are_one_line_errors(tmp_path: Path) -> None:
    env = home_env(tmp_path, free_port_pair())
    assert hvdr("apply", "-f", str(default_topology_path()), env=env).code == 0
    result = hvdr("check", "--cloud", "nope\x1b[31m", env=env)
    assert_one_line_error(result, "unknown cloud", "hvdr clouds")
    assert result.code == 4 and "\x1b" not in result.err
    assert_one_line_error(hvdr("check", "--site", "site-z", env=env), "unknown site 'site-z'")
    result = hvdr("check", env=env)
    assert_one_line_error(result, "cannot reach Temporal")
    assert result.code == 3
