"""Run the real ``hvdr`` entry point in a subprocess, as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    code: int
    out: str
    err: str


def hvdr(*args: str, env: dict[str, str], timeout: float = 120) -> Result:
    command = [sys.executable, "-c", "from hvdr.cli.main import main; main()", *args]
    merged = {k: v for k, v in os.environ.items() if not k.startswith("HVDR_")}
    merged.update(env)
    merged["COLUMNS"] = "200"
    done = subprocess.run(command, env=merged, capture_output=True, text=True, timeout=timeout)
    return Result(done.returncode, done.stdout, done.stderr)


def free_port_pair() -> int:
    """A port p with p and p + 1000 (the web UI) both free."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + 1000 > 65535:
            continue
        with socket.socket() as other:
            try:
                other.bind(("127.0.0.1", port + 1000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


def home_env(home: Path, port: int) -> dict[str, str]:
    return {"HVDR_HOME": str(home), "HVDR_TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}


def assert_one_line_error(result: Result, *needles: str) -> None:
    assert result.code != 0, result
    assert "Traceback" not in result.err + result.out, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    for needle in needles:
        assert needle in lines[0], lines[0]
