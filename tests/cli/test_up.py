"""``hvdr up``: one foreground command that starts what is missing and stops what it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.helpers import free_port_pair, home_env, hvdr


@pytest.mark.slow
def test_up_serves_the_lab_and_every_site_and_ctrl_c_stops_what_it_started(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HVDR_")},
        **home_env(tmp_path, free_port_pair()),
    }
    up = subprocess.Popen(
        [sys.executable, "-c", "from hvdr.cli.main import main; main()", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert up.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            lines.append(line)
            if line.startswith("Ready.") or not line:
                break
        assert any("web UI" in line for line in lines), lines
        assert any(line.startswith("Lab of default_topology.yaml") for line in lines), lines
        endpoints = tmp_path / "lab" / "endpoints.json"
        assert endpoints.exists() and endpoints.with_suffix(".token").stat().st_mode & 0o777 == 0o600
        assert any("HVDR_LAB=1" in line for line in lines), lines
        looked = hvdr("lab", "status", "-o", "json", env=env)  # through the control API, with the lab's token
        assert looked.code == 0 and '"db-01"' in looked.out, looked.err
        for site in ("site-a", "site-b"):
            result = hvdr("ping", "--site", site, env=env)
            assert result.code == 0, result.err
            assert f"hvdr-site-{site}" in result.out
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=60)
        assert up.returncode == 0, rest
        assert "Stopped the Temporal server this command started" in rest
        assert not endpoints.exists(), "the lab's endpoints file outlived the lab"
        assert not endpoints.with_suffix(".token").exists(), "the lab's control token outlived the lab"
    finally:
        if up.poll() is None:
            up.kill()
            hvdr("server", "stop", env=env)  # a killed `up` leaves its (detached) server behind
    status = hvdr("server", "status", env=env)
    assert status.code == 1 and "down" in status.out
