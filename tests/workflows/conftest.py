"""Workflow tests run the real activities over an in-process lab (tests/workflows/lab_hosts.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.workflows.lab_hosts import LabHosts, lab_topology


@pytest.fixture
def lab_hosts() -> Callable[..., LabHosts]:
    """``lab_hosts("db-01", "app-01")``: a fresh lab with those VMs running on hv-a1 (replica host hv-b1)."""

    def make(*vms: str, disk_gb: float = 8, write_kib_per_s: float = 16) -> LabHosts:
        return LabHosts(lab_topology(vms, disk_gb=disk_gb, write_kib_per_s=write_kib_per_s))

    return make
