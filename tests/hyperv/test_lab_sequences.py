"""Every operation over real WinRM (HTTP and HTTPS) against the lab, and the documented sequences
(reference §3.1–3.4) with the state checked at each step."""

from __future__ import annotations

import pytest

from hvdr.hyperv import (
    FailoverIPConfig,
    InitialReplicationMethod,
    ReplicaServerSettings,
    ReplicationSettings,
    ReplicationUpdate,
    StopMode,
    VMNotFound,
    WinRMHyperVHost,
)
from hvdr.hyperv.models import ReplicationHealth, ReplicationMode, ReplicationState, SnapshotType, VMState
from tests.hyperv.conftest import A1, B1, LabDrivers

RS = ReplicationState


def protect(primary: WinRMHyperVHost, lab: LabDrivers, vm: str, replica: str = B1, history: int = 4) -> None:
    """Enable replication and complete the initial copy (the lab's clock runs 600x)."""
    info = primary.enable_replication(
        vm,
        ReplicationSettings(
            replica_server=replica, recovery_history=history, vss_snapshot_frequency_hour=1 if history else None
        ),
    )
    assert (info.mode, info.state) == (ReplicationMode.PRIMARY, RS.READY_FOR_INITIAL_REPLICATION)
    info = primary.start_initial_replication(vm)
    assert info.state in (RS.INITIAL_REPLICATION_IN_PROGRESS, RS.REPLICATING)
    lab.lab.advance(3 * 3600)
    info = primary.get_replication(vm)
    assert info.state is RS.REPLICATING and info.health is ReplicationHealth.NORMAL
    assert info.last_replication_time is not None


def test_reads_and_replica_server(lab: LabDrivers) -> None:
    a1, b1 = lab.host(A1), lab.host(B1)
    vms = a1.list_vms()
    assert {vm.name for vm in vms} == {"db-01", "app-01", "app-03", "web-01", "web-03", "web-05"}
    db = a1.get_vm("db-01")
    assert db.state is VMState.RUNNING and db.processor_count == 8 and db.memory_startup_bytes == 32 * 1024**3
    assert db.replication_mode is ReplicationMode.NONE and db.network_adapters[0].switch_name == "vSwitch-Prod"
    assert len(db.hard_drive_paths) == 2
    heartbeat = a1.get_heartbeat("db-01")
    assert heartbeat.enabled and heartbeat.healthy
    adapters = a1.get_network_adapters("db-01")
    assert adapters[0].ip_addresses == ["10.1.0.11"]
    server = b1.configure_replica_server(ReplicaServerSettings(default_storage_location="E:\\Replica"))
    assert server.replication_enabled and server.default_storage_location == "E:\\Replica"
    assert b1.get_replication_server() == server
    result = a1.test_replication_connection(ReplicationSettings(replica_server=B1))
    assert result.succeeded and B1 in result.message
    assert a1.measure_replication() == []


def test_vmm_discovery(lab: LabDrivers) -> None:
    vmm = lab.vmm()
    clouds = vmm.list_clouds()
    assert [(c.name, c.host_group_paths) for c in clouds] == [("cloud-a", ["All Hosts\\site-a\\cloud-a"])]
    hosts = vmm.list_hosts()
    assert {h.name for h in hosts} == {A1, "hv-a2.site-a.lab.local"}
    assert all(h.host_group_path == "All Hosts\\site-a\\cloud-a" for h in hosts)
    vms = vmm.list_vms()
    assert len(vms) == 12 and {vm.cloud_name for vm in vms} == {"cloud-a"}
    db = next(vm for vm in vms if vm.name == "db-01")
    assert db.host_name == A1 and db.vm_id == lab.host(A1).get_vm("db-01").id


def test_planned_failover_then_failback(lab: LabDrivers) -> None:
    a1, b1 = lab.host(A1), lab.host(B1)
    protect(a1, lab, "db-01")
    assert b1.get_replication("db-01").mode is ReplicationMode.REPLICA
    health = a1.measure_replication("db-01")[0]
    assert health.state is RS.REPLICATING and health.successful_replication_count > 0

    # §3.1 planned failover A1 → B1
    assert a1.stop_vm("db-01").state is VMState.OFF
    assert a1.prepare_failover("db-01").state is RS.PREPARED_FOR_FAILOVER
    failover = b1.start_failover("db-01")
    assert failover.replication.state is RS.FAILED_OVER_WAITING_COMPLETION and failover.test_vm_name is None
    reversed_ = b1.reverse_replication("db-01")
    assert reversed_.mode is ReplicationMode.PRIMARY and reversed_.replica_server == A1
    assert a1.get_replication("db-01").mode is ReplicationMode.REPLICA
    adapters = b1.connect_network_adapter("db-01", "vSwitch-DR")
    assert adapters[0].switch_name == "vSwitch-DR" and adapters[0].connected
    b1.set_failover_ip(
        "db-01",
        FailoverIPConfig(ipv4_address="10.2.0.11", ipv4_subnet_mask="255.255.255.0", ipv4_default_gateway="10.2.0.1"),
    )
    assert b1.start_vm("db-01").state is VMState.RUNNING
    lab.lab.advance(3600)
    assert b1.get_replication("db-01").state is RS.REPLICATING

    # §3.4 failback B1 → A1: the planned sequence the other way
    assert b1.stop_vm("db-01", StopMode.SHUTDOWN).state is VMState.OFF
    assert b1.prepare_failover("db-01").state is RS.PREPARED_FOR_FAILOVER
    assert a1.start_failover("db-01").replication.state is RS.FAILED_OVER_WAITING_COMPLETION
    back = a1.reverse_replication("db-01")
    assert back.mode is ReplicationMode.PRIMARY and back.replica_server == B1
    assert a1.start_vm("db-01").state is VMState.RUNNING
    assert b1.get_replication("db-01").mode is ReplicationMode.REPLICA


def test_unplanned_failover_with_a_recovery_point(lab: LabDrivers) -> None:
    a1, b1 = lab.host(A1), lab.host(B1)
    protect(a1, lab, "app-01")
    points = b1.list_recovery_points("app-01")
    assert points and all(
        p.snapshot_type in (SnapshotType.REPLICA, SnapshotType.APP_CONSISTENT_REPLICA) for p in points
    )
    assert points == sorted(points, key=lambda p: p.creation_time or 0)
    fault = lab.lab.backend.add_fault("host_down", host=A1)  # the primary site is lost
    try:
        chosen = b1.start_failover("app-01", recovery_point=points[0].id)
        assert chosen.replication.state is RS.FAILED_OVER_WAITING_COMPLETION
        # §3.2 step 3b: wrong point → cancel and choose again (the latest)
        assert b1.stop_failover("app-01").state is RS.REPLICATING
        assert b1.start_failover("app-01").replication.state is RS.FAILED_OVER_WAITING_COMPLETION
        assert b1.start_vm("app-01").state is VMState.RUNNING
        done = b1.complete_failover("app-01")
        assert (done.state, done.mode) == (RS.FAILED_OVER, ReplicationMode.REPLICA)
    finally:
        lab.lab.backend.clear_fault(fault.id)
    # The original primary is back: make it the replica, reverse, and copy again.
    assert a1.stop_vm("app-01", StopMode.TURN_OFF).state is VMState.OFF
    as_replica = a1.set_as_replica("app-01")
    assert (as_replica.mode, as_replica.state) == (ReplicationMode.REPLICA, RS.WAITING_FOR_INITIAL_REPLICATION)
    assert b1.reverse_replication("app-01", ReplicationUpdate(replica_server=A1)).mode is ReplicationMode.PRIMARY
    b1.start_initial_replication("app-01")
    lab.lab.advance(3 * 3600)
    final = b1.get_replication("app-01")
    assert (final.mode, final.state, final.health) == (
        ReplicationMode.PRIMARY,
        RS.REPLICATING,
        ReplicationHealth.NORMAL,
    )


def test_test_failover_and_clean_up(lab: LabDrivers) -> None:
    a1, b1 = lab.host(A1), lab.host(B1)
    protect(a1, lab, "web-01")
    result = b1.start_failover("web-01", as_test=True)
    assert result.test_vm_name == "web-01 - Test"
    assert result.replication.state is RS.REPLICATING
    test_vm = b1.get_vm("web-01 - Test")
    assert test_vm.state is VMState.OFF
    assert b1.start_vm("web-01 - Test").state is VMState.RUNNING
    assert a1.get_vm("web-01").state is VMState.RUNNING  # the primary is untouched
    assert b1.stop_failover("web-01").state is RS.REPLICATING
    with pytest.raises(VMNotFound):
        b1.get_vm("web-01 - Test")


def test_suspend_resume_resynchronize_set_and_remove(lab: LabDrivers) -> None:
    a1, b1 = lab.host(A1), lab.host(B1)
    protect(a1, lab, "web-03", history=0)
    assert a1.suspend_replication("web-03").state is RS.SUSPENDED
    assert a1.resume_replication("web-03").state is RS.REPLICATING
    a1.suspend_replication("web-03")
    resync = a1.resynchronize_replication("web-03")
    assert resync.state in (RS.RESYNCHRONIZING, RS.REPLICATING)
    lab.lab.advance(3600)
    assert a1.get_replication("web-03").state is RS.REPLICATING
    updated = a1.set_replication("web-03", ReplicationUpdate(frequency_sec=30, recovery_history=2))
    assert updated.frequency_sec == 30 and updated.recovery_history == 2
    vm = a1.remove_replication("web-03")
    assert vm.replication_mode is ReplicationMode.NONE and vm.replication_state is RS.DISABLED
    assert b1.remove_replication("web-03").replication_mode is ReplicationMode.NONE


def test_offline_initial_replication(lab: LabDrivers) -> None:
    a1, b1 = lab.host(A1), lab.host(B1)
    a1.enable_replication("web-05", ReplicationSettings(replica_server=B1))
    exported = a1.start_initial_replication("web-05", InitialReplicationMethod.EXPORT, destination_path="E:\\IR")
    assert exported.mode is ReplicationMode.PRIMARY
    lab.lab.advance(600)
    assert b1.get_replication("web-05").state is RS.WAITING_FOR_INITIAL_REPLICATION
    imported = b1.import_initial_replication("web-05", "E:\\IR")
    assert imported.state in (RS.REPLICATING, RS.WAITING_FOR_INITIAL_REPLICATION)
    lab.lab.advance(3600)
    assert a1.get_replication("web-05").state is RS.REPLICATING
