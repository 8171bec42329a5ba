"""``hvdr failover planned`` and ``hvdr failback --plan`` refuse unclear or unknown targets with one line, before
they touch anything."""

from __future__ import annotations

from pathlib import Path

from hvdr.topology import default_topology_path
from tests.cli.helpers import assert_one_line_error, free_port_pair, home_env, hvdr


def test_planned_failover_target_errors(tmp_path: Path) -> None:
    env = home_env(tmp_path, free_port_pair())
    assert hvdr("apply", "-f", str(default_topology_path()), env=env).code == 0
    assert_one_line_error(hvdr("failover", "planned", env=env), "--vm NAME")
    assert_one_line_error(hvdr("failover", "planned", "--vm", "no\x1b[2Jpe", env=env), "unknown VM 'no\\x1b[2Jpe'")
    assert_one_line_error(hvdr("failover", "planned", "--vm", "db-01", env=env), "cannot reach Temporal")
    assert_one_line_error(hvdr("runs", "--kind", "failover", env=env), "cannot reach Temporal")
    assert_one_line_error(hvdr("show", "failover/db-01", env=env), "cannot reach Temporal")
    both = hvdr("failback", "--plan", "three-tier", "--vm", "db-01", env=env)
    assert_one_line_error(both, "name a plan (--plan) or VMs (--vm), not both")
    assert_one_line_error(hvdr("failback", "--plan", "nope", env=env), "unknown recovery plan 'nope'")
