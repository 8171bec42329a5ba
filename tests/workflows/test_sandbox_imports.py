"""Workflow modules load no I/O library: what they import through activities (names, input models, driver
models) must not bring the inventory's database layer or the WinRM stack into the workflow sandbox."""

from __future__ import annotations

import json
import subprocess
import sys

IO_LIBRARIES = ("sqlmodel", "sqlalchemy", "winrm", "requests", "urllib3")


def test_importing_the_workflows_loads_no_database_or_winrm_library() -> None:
    probe = (
        "import json, sys\n"
        "import hvdr.workflows.discovery, hvdr.workflows.ping, hvdr.workflows.protection, hvdr.workflows.failover\n"
        "import hvdr.workflows.actions\n"
        f"print(json.dumps(sorted(m for m in {IO_LIBRARIES!r} if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == []
