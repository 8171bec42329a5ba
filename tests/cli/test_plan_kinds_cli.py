"""``hvdr plan run --kind …`` and ``hvdr plan commit|cancel|cleanup`` refuse bad input with one line, before they
touch anything."""

from __future__ import annotations

from pathlib import Path

from hvdr.actions import ActionRecord
from hvdr.cli.plan import action_line
from tests.cli.helpers import assert_one_line_error, free_port_pair, home_env, hvdr


def test_plan_kind_input_errors(tmp_path: Path) -> None:
    env = home_env(tmp_path, free_port_pair())
    run = ("plan", "run", "three-tier")
    assert_one_line_error(hvdr(*run, "--point", "latest", env=env), "--point applies to unplanned and test plans")
    assert_one_line_error(hvdr(*run, "--kind", "unplanned", "--keep", "1h", env=env), "--keep applies to test")
    assert_one_line_error(hvdr(*run, "--kind", "unplanned", "--point", "yesterday", env=env), "--point 'yesterday'")
    assert_one_line_error(hvdr("plan", "commit", "plan/three-tier/1", env=env), "cannot reach Temporal")


def test_an_action_line_says_its_outcome_once() -> None:
    """The plan report printed "switch-dns: approved approved by ops@corp": the detail already says it."""
    approved = ActionRecord(
        name="switch-dns", group="web", when="after", type="manual", outcome="approved", detail="approved by ops@corp"
    )
    assert action_line(approved) == "action web after switch-dns: approved by ops@corp"
    failed = ActionRecord(name="drain", group="web", when="before", type="script", outcome="failed", detail="exit 3")
    assert action_line(failed) == "action web before drain: failed: exit 3"
    late = ActionRecord(name="ok", group="db", when="after", type="manual", outcome="timed_out", detail="")
    assert action_line(late) == "action db after ok: timed out"
