"""The layer rule of README.md's architecture table holds: import-linter checks the contracts in pyproject.toml.

- nothing imports upwards (cli → runtime → client → worker → workflows → activities → hyperv | lab →
  inventory → the shared vocabulary);
- the lab imports nothing of ``hvdr.hyperv`` (nor WinRM), so the two check each other;
- workflow modules import no I/O (database, WinRM, HTTP, subprocess, socket) themselves, and never reach the
  database even through the activities they name.

An ``ignore_imports`` entry that no longer matches an import fails the check too, so a known violation
that has been fixed cannot linger in the configuration.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LINT = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"
)


def test_imports_follow_the_layer_rule() -> None:
    done = subprocess.run([sys.executable, "-c", LINT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout
