"""The host's own clock (RPO is measured against it), replica storage space and deleting a replica VM,
over real WinRM."""

from __future__ import annotations

import pytest

from hvdr.hyperv import models as hv
from hvdr.hyperv.errors import InvalidParameter, InvalidVMState, ScriptFailed, VMNotFound
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


def test_drive_space_of_the_replica_storage(lab: LabDrivers) -> None:
    primary, replica = lab.host(A1), lab.host(B1)
    before = replica.get_drive_space("D:\\Hyper-V Replica")
    assert before.name == "D" and before.used_bytes == 0 and before.free_bytes == 4096 * 2**30
    primary.enable_replication("db-01", hv.ReplicationSettings(replica_server=B1))
    after = replica.get_drive_space("d:\\anything")
    assert after.used_bytes == 260 * 2**30, "db-01's two disks (60 + 200 GB) now live on the replica storage"
    assert after.free_bytes == before.free_bytes - after.used_bytes
    fault = lab.lab.backend.add_fault("storage_full", host=B1)
    assert replica.get_drive_space("D:\\Hyper-V Replica").free_bytes == 0
    lab.lab.backend.clear_fault(fault.id)
    with pytest.raises(InvalidParameter, match="drive letter"):
        replica.get_drive_space("\\\\server\\share")
    with pytest.raises(ScriptFailed, match="Cannot find drive"):
        replica.get_drive_space("Q:\\nothing")


def test_virtual_switches_of_a_recovery_host(lab: LabDrivers) -> None:
    """Get-VMSwitch over WinRM: the switches the topology gives the host, the type as its enum name."""
    switches = lab.host(B1).list_switches()
    assert [(s.name, s.switch_type) for s in switches] == [("vSwitch-DR", "External"), ("vSwitch-DR-Test", "Private")]
