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
    printed = re.search(r"HTML report: (\S+\.html)", result.out)
    assert printed, result.out
    page = Path(printed.group(1)).read_text(encoding="utf-8")
    assert '<rect class="bar"' in page and "planned failover of db-01" in page
    assert "disk checksums equal" in page, "the demo's report proves zero data loss with the lab's checksums"
    status = hvdr("server", "status", env=env)
    assert status.code == 1, "the demo left the Temporal server it started running"
    assert not (tmp_path / "home" / "demo" / "lab" / "endpoints.json").exists()
    again = hvdr("demo", env=env, timeout=400)
    assert again.code == 0, again.out + again.err
