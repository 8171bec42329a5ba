"""``hvdr protect`` refuses unclear or unknown targets before it touches anything."""

from __future__ import annotations

from pathlib import Path

from hvdr.topology import default_topology_path
from tests.cli.helpers import assert_one_line_error, free_port_pair, home_env, hvdr


def test_target_selection_errors(tmp_path: Path) -> None:
    env = home_env(tmp_path, free_port_pair())
    assert hvdr("apply", "-f", str(default_topology_path()), env=env).code == 0
    assert_one_line_error(hvdr("protect", "pause", env=env), "--vm NAME", "--cloud NAME")
    assert_one_line_error(hvdr("protect", "pause", "--vm", "db-01", "--cloud", "cloud-a", env=env), "not both")
    assert_one_line_error(hvdr("protect", "enable", "--vm", "nope", env=env), "unknown VM 'nope'")
    assert_one_line_error(
        hvdr("protect", "enable", "--cloud", "cloud-b", env=env), "cloud 'cloud-b' is not the primary cloud"
    )
    # A VM that exists but no Temporal server answers: a one-line error, not a traceback.
    assert_one_line_error(hvdr("protect", "pause", "--vm", "db-01", env=env), "cannot reach Temporal")
