"""The README's main job, ``hvdr demo``, as a user runs it on a fresh home."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.helpers import free_port_pair, home_env, hvdr


@pytest.mark.slow
def test_demo_runs_end_to_end_and_leaves_nothing_running(tmp_path: Path) -> None:
    env = home_env(tmp_path / "home", free_port_pair())
    result = hvdr("demo", env=env, timeout=400)
    assert result.code == 0, result.out + result.err
    assert "12/12 VMs replicating to site-b" in result.out
    assert "Demo complete." in result.out
    assert "db-01 - Test runs verified on vSwitch-DR-Test" in result.out, "the test VM runs on the test network"
    assert "db-01: test VM removed, nothing left behind" in result.out
    assert "Traceback" not in result.err
    # It ends with the default plan: a planned failover to site-b, then its failback, the manual step of each
    # approved through `hvdr approve`'s path as the demo's identity, and an HTML report of each run.
    over = re.search(
        r"planned failover of plan three-tier: (plan/three-tier/\d+), groups in order databases", result.out
    )
    back = re.search(r"failback of plan three-tier: (plan/three-tier/\d+), groups in order databases", result.out)
    assert over and back, result.out
    for run in (over.group(1), back.group(1)):
        assert re.search(rf"{run} waited for its manual step switch-dns: approved by \S+@\S+", result.out), run
    reports = re.findall(
        r"plan three-tier: 12 VMs in [\d.]+ s .*; disk checksums equal on 12 of 12 VMs .* HTML report: (\S+\.html)",
        result.out,
    )
    assert len(reports) == 2, result.out
    for path, title in zip(
        reports, ("planned failover of plan three-tier", "failback of plan three-tier"), strict=True
    ):
        page = Path(path).read_text(encoding="utf-8")
        assert '<rect class="bar"' in page and title in page, path
        assert page.count("disk checksums equal") >= 12, "the report proves zero data loss with the lab's checksums"
        assert 'data-step="switch-dns"' in page and "approved by hvdr demo" in page, "the approval, with its reason"
    assert "plan three-tier is home again" in result.out
    status = hvdr("server", "status", env=env)
    assert status.code == 1, "the demo left the Temporal server it started running"
    assert not (tmp_path / "home" / "demo" / "lab" / "endpoints.json").exists()
    again = hvdr("demo", env=env, timeout=400)
    assert again.code == 0, again.out + again.err
