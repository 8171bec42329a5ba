"""``hvdr apply`` / ``export`` / reads, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from hvdr.topology import default_topology_path
from tests.cli.helpers import assert_one_line_error, hvdr


def test_apply_export_reapply_and_reads(tmp_path: Path) -> None:
    env = {"HVDR_HOME": str(tmp_path / "home")}
    first = hvdr("apply", "-f", str(default_topology_path()), env=env)
    assert first.code == 0, first.err
    assert "+ cloud pairing cloud-a" in first.out and "Applied 26 changes" in first.out
    exported = hvdr("export", "-f", str(tmp_path / "exported.yaml"), env=env)
    assert exported.code == 0, exported.err
    again = hvdr("apply", "-f", str(tmp_path / "exported.yaml"), env=env)
    assert again.code == 0 and "nothing to change" in again.out
    vms = json.loads(hvdr("vms", "-o", "json", env=env).out)
    assert sorted(v["name"] for v in vms)[:3] == ["app-01", "app-02", "app-03"] and len(vms) == 12
    hosts = json.loads(hvdr("hosts", "--output", "json", env=env).out)
    assert {h["fqdn"]: h["vms"] for h in hosts}["hv-a1.site-a.lab.local"] == 6


def test_invalid_file_lists_every_problem_and_changes_nothing(tmp_path: Path) -> None:
    env = {"HVDR_HOME": str(tmp_path / "home")}
    assert hvdr("apply", "-f", str(default_topology_path()), env=env).code == 0
    before = hvdr("export", env=env).out
    broken = tmp_path / "broken.yaml"
    text = default_topology_path().read_text().replace("policy: standard-5min}", "policy: gold}")
    broken.write_text(
        text.replace("copy_frequency_s: 300 ", "copy_frequency_s: 45 ").replace("site: site-b\n", "site: x\n", 1)
    )
    result = hvdr("apply", "-f", str(broken), "--dry-run", env=env)
    assert result.code == 2 and "Traceback" not in result.err
    lines = result.err.splitlines()
    assert lines[0] == "error: 4 problems in the topology; nothing was changed:"
    assert all(line.strip().startswith(f"{broken}:") for line in lines[1:]), lines
    assert hvdr("apply", "-f", str(broken), env=env).code == 2
    assert hvdr("export", env=env).out == before


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = hvdr("apply", "-f", str(tmp_path / "nope.yaml"), env={"HVDR_HOME": str(tmp_path)})
    assert result.code == 2 and "cannot read" in result.err and "Traceback" not in result.err


def test_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    env = {"HVDR_HOME": str(tmp_path), "HVDR_DATABASE_URL": "mysql+nothing://x"}
    assert_one_line_error(hvdr("sites", env=env), "HVDR_DATABASE_URL", "is not a database URL")
