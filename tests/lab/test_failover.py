"""The documented sequences at cmdlet level: planned, unplanned (chosen recovery point), test, failback."""

from __future__ import annotations

from hvdr.lab.models.clock import to_timestamp
from hvdr.lab.models.enums import SnapshotType, VMReplicationHealthState, VMReplicationMode, VMState
from tests.lab.conftest import A1, B1, Shell

H = VMReplicationHealthState


def _at(moments: dict[float, str], when: object) -> str:
    """The checksum recorded at that moment (datetimes keep microseconds, floats a little more)."""
    ts = to_timestamp(when)  # type: ignore[arg-type]
    (key,) = [k for k in moments if abs(k - ts) < 1e-3]
    return moments[key]


def _states(sh: Shell, name: str) -> tuple[tuple[str, str], tuple[str, str]]:
    a, b = sh.rel(A1, name), sh.rel(B1, name)
    return (a.mode.name, a.state.name), (b.mode.name, b.state.name)


def planned_failover(sh: Shell, name: str, old: str, new: str) -> None:
    """Reference §3.1, every step checked."""
    sh(old, "Stop-VM", name)
    assert (sh.rel(old, name).state.name, sh.vm(old, name).state) == ("Replicating", VMState.Off)
    sh(old, "Start-VMFailover", VMName=name, Prepare=True, Confirm=False)
    assert sh.state(old, name) == "PreparedForFailover"
    assert sh.checksum(old, name) == sh.checksum(new, name)  # the last changes were sent: nothing lost
    assert sh.fails(old, "Start-VM", name).error_id == "InvalidState"  # locked
    sh(new, "Start-VMFailover", VMName=name, Confirm=False)
    assert sh.state(new, name) == "FailedOverWaitingCompletion"
    sh(new, "Set-VMReplication", name, Reverse=True)
    assert (sh.rel(new, name).mode, sh.rel(old, name).mode) == (VMReplicationMode.Primary, VMReplicationMode.Replica)
    assert (sh.state(new, name), sh.state(old, name)) == ("Replicating", "Replicating")
    assert sh.rel(new, name).settings.replica_server == old
    sh(new, "Start-VM", name)
    assert sh.vm(new, name).state is VMState.Running
    sh.advance(60)
    assert sh.one(new, "Get-VMReplication", name)["Health"] is H.Normal


def test_planned_failover_and_failback_lose_nothing(sh: Shell) -> None:
    sh.protect("db-01", RecoveryHistory=2)
    sh.advance(2 * 3600 + 100)
    assert sh(B1, "Get-VMSnapshot", "db-01")
    planned_failover(sh, "db-01", A1, B1)
    assert sh(B1, "Get-VMSnapshot", "db-01") == []  # reversing merges the recovery points
    for _ in range(3):  # the new primary's writes reach the old one, cycle after cycle
        sh.to_next_cycle(B1, "db-01")
        assert sh.checksum(B1, "db-01") == sh.checksum(A1, "db-01")
    planned_failover(sh, "db-01", B1, A1)  # failback: the same sequence the other way
    sh.to_next_cycle(A1, "db-01")
    assert sh.checksum(A1, "db-01") == sh.checksum(B1, "db-01")
    # The control API's failover records (GET /failovers): both copies equal at each failover, nothing lost.
    rows = [(r["source_host"], r["replica_host"], r["kind"], r["blocks_lost"]) for r in sh.backend.failovers]
    assert rows == [(A1, B1, "Planned", 0), (B1, A1, "Planned", 0)]
    assert all(r["source_checksum"] == r["replica_checksum"] for r in sh.backend.failovers)
    assert _states(sh, "db-01") == (("Primary", "Replicating"), ("Replica", "Replicating"))


def test_reverse_after_starting_the_failed_over_vm_replicates_its_writes(sh: Shell) -> None:
    sh.protect("app-01")
    sh(A1, "Stop-VM", "app-01")
    sh(A1, "Start-VMFailover", "app-01", Prepare=True)
    sh(B1, "Start-VMFailover", "app-01")
    sh(B1, "Start-VM", "app-01")
    sh.advance(600)
    assert sh.checksum(B1, "app-01") != sh.checksum(A1, "app-01")
    sh(B1, "Set-VMReplication", "app-01", Reverse=True)
    sh.to_next_cycle(B1, "app-01")
    assert sh.checksum(B1, "app-01") == sh.checksum(A1, "app-01")


def test_cancel_a_prepared_planned_failover(sh: Shell) -> None:
    sh.protect("web-01")
    sh(A1, "Stop-VM", "web-01")
    sh(A1, "Start-VMFailover", "web-01", Prepare=True)
    sh(A1, "Stop-VMFailover", "web-01")
    assert sh.state(A1, "web-01") == "Replicating"
    sh(A1, "Start-VM", "web-01")
    sh.advance(900)
    sh.to_next_cycle(A1, "web-01")
    assert sh.checksum(A1, "web-01") == sh.checksum(B1, "web-01")


def test_unplanned_failover_to_a_chosen_recovery_point(sh: Shell) -> None:
    sh.protect("db-02", source="hv-a2.site-a.lab.local", RecoveryHistory=4)
    a2 = "hv-a2.site-a.lab.local"
    moments: dict[float, str] = {}
    for _ in range(12 * 4):
        at = sh.to_next_cycle(a2, "db-02")
        moments[at] = sh.checksum(a2, "db-02")
    sh.advance(200)
    sh.backend.add_fault("crash", host=a2)  # the primary site is gone
    points = sh(B1, "Get-VMSnapshot", VMName="db-02", SnapshotType="Replica")
    assert len(points) >= 2
    chosen = points[0]
    wanted = _at(moments, chosen.ps_get("CreationTime"))
    sh(B1, "Start-VMFailover", Confirm=False, VMRecoverySnapshot=chosen)
    assert sh.state(B1, "db-02") == "FailedOverWaitingCompletion"
    assert sh.checksum(B1, "db-02") == wanted  # exactly the primary at that moment
    sh(B1, "Start-VM", "db-02")
    assert sh.vm(B1, "db-02").state is VMState.Running
    sh(B1, "Stop-VMFailover", "db-02")  # wrong point: turn off and revert
    assert (sh.state(B1, "db-02"), sh.vm(B1, "db-02").state) == ("Replicating", VMState.Off)
    latest = max(moments)
    assert sh.checksum(B1, "db-02") == moments[latest]
    newest = sh(B1, "Get-VMSnapshot", "db-02")[-1]
    sh(B1, "Start-VMFailover", pipe=[newest])  # Get-VMSnapshot ... | Start-VMFailover
    assert sh.checksum(B1, "db-02") == _at(moments, newest.ps_get("CreationTime"))
    sh(B1, "Complete-VMFailover", "db-02", Confirm=False)
    replica = sh.one(B1, "Get-VMReplication", "db-02")
    assert (replica["State"].name, replica["Mode"].name, replica["Health"]) == ("FailedOver", "Replica", H.Warning)
    assert sh(B1, "Get-VMSnapshot", "db-02") == []
    sh(B1, "Start-VM", "db-02")
    assert sh.fails(B1, "Stop-VMFailover", "db-02").error_id == "InvalidState"

    sh.backend.clear_faults()  # the original primary comes back (its VM Off after the crash)
    sh(a2, "Set-VMReplication", "db-02", AsReplica=True)
    assert (sh.rel(a2, "db-02").mode.name, sh.state(a2, "db-02")) == ("Replica", "WaitingForInitialReplication")
    sh(B1, "Set-VMReplication", "db-02", Reverse=True, ReplicaServerName=a2)
    assert (sh.rel(B1, "db-02").mode.name, sh.state(B1, "db-02")) == ("Primary", "ReadyForInitialReplication")
    sh(B1, "Start-VMInitialReplication", "db-02")
    sh.advance(3600)
    measure = sh.one(B1, "Measure-VMReplication", "db-02")
    assert (measure["Mode"].name, measure["State"].name, measure["Health"]) == ("Primary", "Replicating", H.Normal)
    sh.to_next_cycle(B1, "db-02")
    assert sh.checksum(B1, "db-02") == sh.checksum(a2, "db-02")


def test_unplanned_failover_to_the_latest_point(sh: Shell) -> None:
    sh.protect("web-01")
    at = sh.to_next_cycle(A1, "web-01")
    at_cycle = sh.checksum(A1, "web-01")
    sh.advance(200)
    sh.backend.add_fault("host_down", host=A1)
    sh(B1, "Start-VMFailover", "web-01")
    assert sh.checksum(B1, "web-01") == at_cycle
    assert abs(sh.one(B1, "Get-VMReplication", "web-01")["LastReplicationTime"].timestamp() - at) < 1e-3
    assert sh.one(B1, "Measure-VMReplication", "web-01")["FailedOverReplicationType"].name == "Regular"
    [record] = sh.backend.failovers  # what the source wrote after the last cycle is measured as lost
    assert (record["kind"], record["replica_checksum"]) == ("Regular", at_cycle)
    assert record["source_checksum"] != at_cycle and record["blocks_lost"] > 0


def test_test_failover_creates_and_removes_the_test_vm(sh: Shell) -> None:
    sh.protect("app-02", source="hv-a2.site-a.lab.local", target="hv-b2.site-b.lab.local", RecoveryHistory=2)
    b2 = "hv-b2.site-b.lab.local"
    sh.advance(7200)
    assert sh(b2, "Start-VMFailover", "app-02", AsTest=True, Confirm=False) == []  # nothing without -Passthru
    sh(b2, "Stop-VMFailover", "app-02")
    (test,) = sh(b2, "Start-VMFailover", "app-02", AsTest=True, Passthru=True, Confirm=False)
    assert test.ps_get("Name") == "app-02 - Test" and test.ps_get("ReplicationMode") is VMReplicationMode.TestReplica
    assert [a.ps_get("SwitchName") for a in test.ps_get("NetworkAdapters")] == [None]
    assert sh.checksum(b2, "app-02 - Test") == sh.checksum(b2, "app-02")
    assert sh.one(b2, "Get-VMReplication", "app-02")["TestVirtualMachine"].ps_get("Name") == "app-02 - Test"
    assert sh.fails(b2, "Start-VMFailover", "app-02", AsTest=True).error_id == "InvalidState"
    sh(b2, "Start-VM", "app-02 - Test")
    sh.advance(900)
    assert sh.state(b2, "app-02") == "Replicating"  # replication goes on meanwhile
    assert sh.one(b2, "Measure-VMReplication", "app-02")["LastTestFailoverInitiatedTime"] is not None
    sh(b2, "Stop-VMFailover", "app-02")
    assert [v.ps_get("Name") for v in sh(b2, "Get-VM")] == ["app-02"]
    snapshot = sh(b2, "Get-VMSnapshot", "app-02")[0]
    (test,) = sh(b2, "Start-VMFailover", pipe=[snapshot], AsTest=True, Passthru=True)
    assert test.ps_get("Name") == "app-02 - Test"
    sh(b2, "Stop-VMFailover", "app-02")


def test_a_vm_and_a_snapshot_cannot_be_named_together(sh: Shell) -> None:
    """-VMName and -VMRecoverySnapshot belong to different parameter sets (Start-VMFailover.md): the binder refuses
    the pair before the cmdlet runs; a snapshot alone fails over the VM it belongs to."""
    sh.protect("web-01", RecoveryHistory=1)
    sh.protect("web-03", RecoveryHistory=1)
    sh.advance(3700)
    other = sh(B1, "Get-VMSnapshot", "web-03")[0]
    assert other.ps_get("SnapshotType") in (SnapshotType.Replica, SnapshotType.AppConsistentReplica)
    error = sh.fails(B1, "Start-VMFailover", VMName="web-01", VMRecoverySnapshot=other)
    assert (error.error_id, error.exception) == ("AmbiguousParameterSet", "ParameterBindingException")
    assert error.message == "Parameter set cannot be resolved using the specified named parameters."
    error = sh.fails(B1, "Start-VMFailover", "web-01", AsTest=True, Prepare=True)
    assert error.error_id == "AmbiguousParameterSet"


def test_wildcard_stop_and_complete_act_on_the_failovers_in_progress(sh: Shell) -> None:
    # "Stop-VMFailover *" stops "all running failovers" and "Complete-VMFailover *" completes those "for which the
    # failover process has been started" (their pages): other VMs, test VMs included, are passed over.
    sh.protect("db-01")
    sh.protect("app-01")
    sh(B1, "Start-VMFailover", "db-01", AsTest=True, Confirm=False)
    assert [v.ps_get("Name") for v in sh(B1, "Get-VM", "db-01*")] == ["db-01", "db-01 - Test"]
    sh(B1, "Stop-VMFailover", "*")
    assert [v.ps_get("Name") for v in sh(B1, "Get-VM")] == ["app-01", "db-01"]
    sh(B1, "Start-VMFailover", "app-01", Confirm=False)
    sh(B1, "Complete-VMFailover", "*")
    assert (sh.state(B1, "app-01"), sh.state(B1, "db-01")) == ("FailedOver", "Replicating")
    # Named outright, a VM with nothing to stop or complete still fails as its state says.
    assert sh.fails(B1, "Complete-VMFailover", "db-01").error_id == "InvalidState"
    assert sh.fails(B1, "Stop-VMFailover", "db-01").error_id == "InvalidState"
