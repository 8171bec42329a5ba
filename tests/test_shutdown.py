"""`hvdr.run` ends a script with the status the interpreter would give, its output flushed."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import hvdr

async def main():
    print("partial line, no newline", end="")
    {body}

hvdr.run(main())
print("never reached")
"""


@pytest.mark.parametrize(
    ("body", "status", "stderr"),
    [
        ("return 'a value'", 0, ""),
        ("raise SystemExit(3)", 3, ""),
        ("raise SystemExit('no such cloud: cloud-z')", 1, "no such cloud: cloud-z"),
        ("raise RuntimeError('the host said no')", 1, "RuntimeError: the host said no"),
    ],
)
def test_run_keeps_the_exit_status_and_the_output(body: str, status: int, stderr: str) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(body=body)], capture_output=True, text=True, timeout=60)
    assert done.returncode == status, done.stderr
    assert done.stdout == "partial line, no newline"
    assert stderr in done.stderr
