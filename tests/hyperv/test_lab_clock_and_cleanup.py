"""The host's own clock (RPO is measured against it) and deleting a replica VM, over real WinRM."""

from __future__ import annotations

import pytest

from hvdr.hyperv import models as hv
from hvdr.hyperv.errors import InvalidVMState, VMNotFound
from tests.hyperv.conftest import A1, B1, LabDrivers


def test_host_time_is_the_hosts_clock(lab: LabDrivers) -> None:
    host = lab.host(A1)
    before = host.get_host_time()
    lab.lab.advance(3600)
    after = host.get_host_time()
    assert 3600 <= (after - before).total_seconds() < 3700
    assert after.tzinfo is not None


def test_initial_copy_size_is_reported(lab: LabDrivers) -> None:
    host = lab.host(A1)
    host.enable_replication("web-01", hv.ReplicationSettings(replica_server=B1))
    host.start_initial_replication("web-01")
    report = host.measure_replication("web-01")[0]
    assert report.initial_replication_bytes > 0
    assert 0 <= report.pending_replication_bytes <= report.initial_replication_bytes


def test_remove_vm_needs_it_off_then_deletes_it(lab: LabDrivers) -> None:
    host = lab.host(A1)
    with pytest.raises(InvalidVMState):
        host.remove_vm("web-03")
    host.stop_vm("web-03", hv.StopMode.TURN_OFF)
    host.remove_vm("web-03")
    assert "web-03" not in {vm.name for vm in host.list_vms()}
    with pytest.raises(VMNotFound):
        host.get_vm("web-03")
