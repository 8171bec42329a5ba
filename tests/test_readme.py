"""The README's Python examples run as written against a running stack (`hvdr up`) and end cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.helpers import free_port_pair, home_env, hvdr

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_the_readme_has_python_examples() -> None:
    blocks = python_blocks()
    assert blocks and all("hvdr" in block for block in blocks)


@pytest.mark.slow
def test_readme_python_blocks_run_against_hvdr_up(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HVDR_")},
        **home_env(tmp_path, free_port_pair()),
    }
    # The lab at 300x (as `hvdr demo`) so the initial copies take seconds; the code is the README's.
    up = subprocess.Popen(
        [sys.executable, "-c", "from hvdr.cli.main import main; main()", "up", "--speed", "300"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert up.stdout is not None
        deadline = time.monotonic() + 90
        lines: list[str] = []
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            lines.append(line)
            if line.startswith("Ready.") or not line:
                break
        assert lines and lines[-1].startswith("Ready."), lines
        for block in python_blocks():
            done = subprocess.run(
                [sys.executable, "-c", block], env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert "Traceback" not in done.stderr, done.stderr
            assert "12 VM(s): 12 replicating" in done.stdout, done.stdout
            assert "db-01 True" in done.stdout, done.stdout  # the cloud-wide pause reached db-01
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
            hvdr("server", "stop", env=env)
