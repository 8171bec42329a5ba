"""Delta cycles, recovery points, statistics and health, resynchronization, crashes and storage faults."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from hvdr.lab.models.clock import to_datetime, to_timestamp
from hvdr.lab.models.disks import VirtualDisk, disks_checksum
from hvdr.lab.models.enums import SnapshotType, VMReplicationHealthState, VMReplicationType, VMState
from tests.lab.conftest import A1, B1, Shell

H = VMReplicationHealthState


def test_each_cycle_brings_the_replica_to_the_primary_at_that_moment(sh: Shell) -> None:
    sh.protect("db-01", ReplicationFrequencySec=30)
    for _ in range(5):
        at = sh.to_next_cycle(A1, "db-01")
        assert sh.checksum(A1, "db-01") == sh.checksum(B1, "db-01")
        assert to_timestamp(sh.one(B1, "Get-VMReplication", "db-01")["LastReplicationTime"]) == pytest.approx(
            at, abs=1e-3
        )
    sh.advance(15)
    assert sh.checksum(A1, "db-01") != sh.checksum(B1, "db-01")  # writes since the last cycle are pending
    measure = sh.one(A1, "Measure-VMReplication", "db-01")
    assert measure["PendingReplicationSize"] > 0 and measure["SuccessfulReplicationCount"] == 5
    assert measure["LastReplicationType"] is VMReplicationType.Regular


def test_recovery_points_are_hourly_exact_and_pruned_to_the_history(sh: Shell) -> None:
    sh.protect("app-01", RecoveryHistory=3, VSSSnapshotFrequencyHour=2)
    moments: dict[float, str] = {}
    for _ in range(12 * 6):
        at = sh.to_next_cycle(A1, "app-01")
        moments[at] = sh.checksum(A1, "app-01")
    points = sh(B1, "Get-VMSnapshot", "app-01")
    assert len(points) == 3  # pruned to RecoveryHistory
    times = [to_timestamp(p.ps_get("CreationTime")) for p in points]
    assert times == sorted(times) and all(b - a >= 3600 for a, b in itertools.pairwise(times))
    kinds = [p.ps_get("SnapshotType") for p in points]
    assert SnapshotType.AppConsistentReplica in kinds and SnapshotType.Replica in kinds
    standard = sh(B1, "Get-VMSnapshot", "app-01", SnapshotType="Replica")
    assert [p.ps_get("Id") for p in standard] == [
        p.ps_get("Id") for p in points if p.ps_get("SnapshotType") is SnapshotType.Replica
    ]
    rel = sh.rel(B1, "app-01")
    for point in rel.history.points:
        rebuilt = rel.history.materialize(rel.vm.disks, point)
        copies = []
        for disk, content in zip(rel.vm.disks, rebuilt, strict=True):
            copy = VirtualDisk(disk.name, disk.path, disk.size_bytes, disk.block_size)
            copy.load(content)
            copies.append(copy)
        assert disks_checksum(copies) == moments[point.created]
    assert points[0].ps_get("Name").startswith("app-01 - ")
    assert sh(A1, "Get-VMSnapshot", "app-01") == []  # the primary has no recovery points


def test_no_history_keeps_only_the_latest_point(sh: Shell) -> None:
    sh.protect("web-01")
    sh.advance(4 * 3600)
    assert sh(B1, "Get-VMSnapshot", "web-01", SnapshotType="Replica") == []


def test_partition_makes_health_critical_then_warning_then_normal(sh: Shell) -> None:
    sh.protect("web-02", source="hv-a2.site-a.lab.local", target=B1)
    a2 = "hv-a2.site-a.lab.local"
    sh.advance(3600)
    assert sh.one(a2, "Measure-VMReplication", "web-02")["Health"] is H.Normal
    fault = sh.backend.add_fault("partition", site_a="site-b", site_b="site-a")
    sh.advance(1800)
    measure = sh.one(a2, "Measure-VMReplication", "web-02")
    assert (measure["State"].name, measure["Health"]) == ("Replicating", H.Critical)
    assert measure["MissedReplicationCount"] == 6 and measure["ReplicationErrors"] == 6
    assert any("could not be established" in d for d in measure["ReplicationHealthDetails"])
    assert sh.one(B1, "Measure-VMReplication", "web-02")["Health"] is H.Warning  # cycles did not arrive
    sh.backend.clear_fault(fault.id)
    sh.advance(300)
    measure = sh.one(a2, "Measure-VMReplication", "web-02")
    assert measure["Health"] is H.Warning  # over 20% of this interval's cycles were missed
    assert any("20 percent" in d for d in measure["ReplicationHealthDetails"])
    sh(a2, "Reset-VMReplicationStatistics", "web-02")
    sh.advance(300)
    assert sh.one(a2, "Measure-VMReplication", "web-02")["Health"] is H.Normal


def test_suspend_and_resume(sh: Shell) -> None:
    sh.protect("web-01")
    sh(A1, "Suspend-VMReplication", "web-01")
    assert sh.one(A1, "Get-VMReplication", "web-01")["Health"] is H.Warning
    sh.advance(1200)
    assert sh.one(A1, "Measure-VMReplication", "web-01")["PendingReplicationSize"] > 0
    assert sh.fails(A1, "Suspend-VMReplication", "web-01").error_id == "InvalidState"
    sh(A1, "Resume-VMReplication", "web-01")
    sh.to_next_cycle(A1, "web-01")
    assert sh.checksum(A1, "web-01") == sh.checksum(B1, "web-01")
    sh(B1, "Suspend-VMReplication", "web-01")
    assert sh.one(B1, "Get-VMReplication", "web-01")["Health"] is H.Critical  # paused on the replica
    sh.advance(300)
    assert sh.one(A1, "Get-VMReplication", "web-01")["Health"] is H.Critical  # the primary cannot send
    sh(B1, "Resume-VMReplication", "web-01")
    sh.to_next_cycle(A1, "web-01")
    assert sh.one(A1, "Get-VMReplication", "web-01")["Health"] is not H.Critical


def test_log_over_half_the_disk_needs_resynchronization(small: Callable[..., Shell]) -> None:
    sh = small(write_kib_per_s=1024, disk_gb=1)  # 300 MB a cycle: under half the disk
    sh.protect("vm1", RecoveryHistory=2)
    sh.advance(2 * 3600)
    assert sh(B1, "Get-VMSnapshot", "vm1")
    sh(A1, "Suspend-VMReplication", "vm1")
    sh.advance(600)  # 600 MB of writes into the log of a 1 GB disk
    measure = sh.one(A1, "Measure-VMReplication", "vm1")
    assert (measure["State"].name, measure["Health"]) == ("WaitingForStartResynchronize", H.Critical)
    assert measure["PendingReplicationSize"] == 0  # tracking stopped
    assert any("Resynchronization is required" in d for d in measure["ReplicationHealthDetails"])
    assert sh.fails(A1, "Resume-VMReplication", "vm1").error_id == "InvalidState"
    assert (
        sh.fails(A1, "Resume-VMReplication", "vm1", ResynchronizeStartTime=to_datetime(sh.backend.now() + 60)).error_id
        == "InvalidParameter"
    )
    sh(A1, "Resume-VMReplication", "vm1", Resynchronize=True)
    assert (sh.state(A1, "vm1"), sh.state(B1, "vm1")) == ("Resynchronizing", "Resynchronizing")
    sh.advance(1)
    assert (sh.state(A1, "vm1"), sh.state(B1, "vm1")) == ("Replicating", "Replicating")
    assert sh(B1, "Get-VMSnapshot", "vm1") == []  # resynchronization deletes the recovery points
    sh.to_next_cycle(A1, "vm1")
    assert sh.checksum(A1, "vm1") == sh.checksum(B1, "vm1")


def test_resynchronization_can_be_paused_cancelled_and_scheduled(small: Callable[..., Shell]) -> None:
    sh = small(write_kib_per_s=64, disk_gb=200)
    sh.protect("vm1")
    sh(A1, "Suspend-VMReplication", "vm1")
    sh(A1, "Resume-VMReplication", "vm1", Resynchronize=True)  # forced resync of a healthy VM
    assert sh.state(A1, "vm1") == "Resynchronizing"
    sh(A1, "Suspend-VMReplication", "vm1")
    assert sh.state(A1, "vm1") == "ResynchronizeSuspended"
    sh.advance(3600)
    assert sh.state(A1, "vm1") == "ResynchronizeSuspended"
    sh(A1, "Resume-VMReplication", "vm1")
    assert sh.state(A1, "vm1") == "Resynchronizing"
    sh(A1, "Stop-VMReplication", "vm1")
    assert (sh.state(A1, "vm1"), sh.state(B1, "vm1")) == ("WaitingForStartResynchronize", "Replicating")
    assert sh.fails(A1, "Stop-VMReplication", "vm1").error_id == "InvalidState"
    later = to_datetime(sh.backend.now() + 3600)
    sh(A1, "Resume-VMReplication", "vm1", Resynchronize=True, ResynchronizeStartTime=later)
    assert sh.state(A1, "vm1") == "WaitingForStartResynchronize"
    sh.advance(3600 + 600)
    assert sh.state(A1, "vm1") == "Replicating"


def test_primary_host_crash_loses_the_log(sh: Shell) -> None:
    sh.protect("app-01")
    sh.advance(120)
    fault = sh.backend.add_fault("crash", host="hv-a1")
    assert sh.backend.wire_faults(A1).down
    assert sh.vm(A1, "app-01").state is VMState.Off and sh.vm(A1, "db-01").state is VMState.Off
    assert sh.state(A1, "app-01") == "WaitingForStartResynchronize"
    sh.backend.clear_fault(fault.id)
    assert not sh.backend.wire_faults(A1).down
    sh(A1, "Start-VM", "app-01")
    sh(A1, "Resume-VMReplication", "app-01", Resynchronize=True)
    sh.advance(600)
    sh.to_next_cycle(A1, "app-01")
    assert sh.checksum(A1, "app-01") == sh.checksum(B1, "app-01")


def test_full_replica_storage_puts_replication_in_error(sh: Shell) -> None:
    sh.protect("web-01")
    fault = sh.backend.add_fault("storage_full", host=B1)
    sh.to_next_cycle(A1, "web-01")
    measure = sh.one(A1, "Measure-VMReplication", "web-01")
    assert (measure["State"].name, measure["Health"]) == ("Error", H.Critical)
    assert any("in error" in d for d in measure["ReplicationHealthDetails"])
    sh.backend.clear_fault(fault.id)
    sh.advance(600)
    assert sh.state(A1, "web-01") == "Error"  # stays in error until resumed
    sh(A1, "Resume-VMReplication", "web-01")
    sh.to_next_cycle(A1, "web-01")
    assert sh.state(A1, "web-01") == "Replicating"
    assert sh.checksum(A1, "web-01") == sh.checksum(B1, "web-01")


def test_settings_change_on_the_primary_only(sh: Shell) -> None:
    sh.protect("web-01")
    sh(A1, "Set-VMReplication", "web-01", ReplicationFrequencySec=30, RecoveryHistory=2)
    rel = sh.rel(A1, "web-01")
    assert (rel.settings.frequency_sec, rel.settings.recovery_history, rel.settings.vss_frequency_hours) == (30, 2, 0)
    first = sh.to_next_cycle(A1, "web-01")
    assert sh.to_next_cycle(A1, "web-01") - first == 30
    assert sh.fails(A1, "Set-VMReplication", "web-01").error_id == "InvalidParameter"
    assert sh.fails(B1, "Set-VMReplication", "web-01", RecoveryHistory=4).error_id == "InvalidState"
    assert (
        sh.fails(A1, "Set-VMReplication", "web-01", ReplicationFrequencySec=200).error_id
        == "ParameterArgumentValidationError"
    )
    assert (
        sh.fails(A1, "Set-VMReplication", "web-01", RecoveryHistory=0, VSSSnapshotFrequencyHour=1).error_id
        == "InvalidParameter"
    )
    assert sh.fails(A1, "Set-VMReplication", "app-01", RecoveryHistory=1).error_id == "InvalidState"


def test_remove_replication_on_both_hosts(sh: Shell) -> None:
    sh.protect("web-01")
    sh(A1, "Remove-VMReplication", "web-01")
    assert sh.vm(A1, "web-01").replication is None
    assert sh.fails(A1, "Remove-VMReplication", "web-01").error_id == "InvalidState"
    sh(B1, "Remove-VMReplication", "web-01")
    assert sh.one(B1, "Get-VM", "web-01")["ReplicationMode"].name == "None"
    sh(B1, "Remove-VM", "web-01", Force=True)
    assert sh(B1, "Get-VM") == []
    sh.protect("web-01")
    assert sh.state(B1, "web-01") == "Replicating"


def test_automatic_resynchronization_starts_inside_its_window(sh: Shell) -> None:
    sh.protect("web-01")
    sh(
        A1,
        "Set-VMReplication",
        "web-01",
        AutoResynchronizeEnabled=True,
        AutoResynchronizeIntervalStart="00:00:00",
        AutoResynchronizeIntervalEnd="23:59:59",
    )
    sh.backend.add_fault("crash", host=A1)
    sh.backend.clear_faults()
    sh(A1, "Start-VM", "web-01")
    sh.advance(600)  # no operator: Hyper-V resynchronizes on its own
    assert sh.state(A1, "web-01") == "Replicating"
    sh.to_next_cycle(A1, "web-01")
    assert sh.checksum(A1, "web-01") == sh.checksum(B1, "web-01")
