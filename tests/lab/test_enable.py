"""Enable-VMReplication's validations and the Replica server's admission rules; initial replication."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hvdr.lab.models.clock import to_datetime
from hvdr.lab.models.enums import VMReplicationHealthState, VMReplicationMode
from tests.lab.conftest import A1, B1, Shell


@pytest.mark.parametrize(
    ("settings", "error_id", "category"),
    [
        ({"ReplicationFrequencySec": 60}, "ParameterArgumentValidationError", "InvalidData"),
        ({"RecoveryHistory": 25}, "ParameterArgumentValidationError", "InvalidData"),
        ({"RecoveryHistory": 4, "VSSSnapshotFrequencyHour": 13}, "ParameterArgumentValidationError", "InvalidData"),
        ({"VSSSnapshotFrequencyHour": 2}, "InvalidParameter", "InvalidArgument"),
        ({"CertificateThumbprint": "AB" * 20}, "InvalidParameter", "InvalidArgument"),
    ],
)
def test_invalid_settings_are_refused(sh: Shell, settings: dict[str, int], error_id: str, category: str) -> None:
    error = sh.fails(A1, "Enable-VMReplication", "db-01", B1, 80, "Kerberos", **settings)
    assert (error.error_id, error.category) == (error_id, category)
    assert sh.vm(A1, "db-01").replication is None and not sh.backend.require_host(B1).vms


def test_ip_address_is_not_a_replica_server_name(sh: Shell) -> None:
    error = sh.fails(A1, "Enable-VMReplication", "db-01", "10.2.0.5", 80, "Kerberos")
    assert error.error_id == "InvalidParameter"


def test_certificate_needs_a_thumbprint(sh: Shell) -> None:
    error = sh.fails(A1, "Enable-VMReplication", "db-01", B1, 443, "Certificate")
    assert error.error_id == "InvalidParameter" and "CertificateThumbprint" in error.message


def test_the_replica_server_must_accept_the_primary(sh: Shell) -> None:
    error = sh.fails(A1, "Enable-VMReplication", "db-01", B1, 443, "Certificate", CertificateThumbprint="AB" * 20)
    assert error.error_id == "AccessDenied" and "Certificate" in error.message
    sh(B1, "Set-VMReplicationServer", ReplicationAllowedFromAnyServer=False)
    error = sh.fails(A1, "Enable-VMReplication", "db-01", B1, 80, "Kerberos")
    assert error.error_id == "AccessDenied" and A1 in error.message
    sh(B1, "Set-VMReplicationServer", False)
    assert sh.fails(A1, "Enable-VMReplication", "db-01", B1, 80, "Kerberos").error_id == "OperationFailed"
    sh(B1, "Set-VMReplicationServer", True, "Kerberos", True, KerberosAuthenticationPort=8080)
    assert "port 80 " in sh.fails(A1, "Enable-VMReplication", "db-01", B1, 80, "Kerberos").message
    sh(A1, "Enable-VMReplication", "db-01", B1, 8080, "Kerberos")
    assert sh.state(A1, "db-01") == "ReadyForInitialReplication"


def test_set_replication_server_validates(sh: Shell) -> None:
    error = sh.fails(B1, "Set-VMReplicationServer", True, "Certificate")
    assert error.error_id == "InvalidParameter"
    sh(
        B1,
        "Set-VMReplicationServer",
        True,
        "CertificateAndKerberos",
        True,
        CertificateThumbprint="CD" * 20,
        MonitoringInterval=timedelta(hours=6),
    )
    server = sh.one(B1, "Get-VMReplicationServer")
    assert server["AllowedAuthenticationType"].name == "CertificateAndKerberos"
    assert server["MonitoringInterval"] == timedelta(hours=6) and server["KerberosAuthenticationPort"] == 80
    assert (
        sh.fails(B1, "Set-VMReplicationServer", MonitoringInterval=timedelta(hours=5)).error_id
        == "ParameterArgumentValidationError"
    )


def test_unreachable_and_full_replica_servers(sh: Shell) -> None:
    fault = sh.backend.add_fault("partition", site_a="site-a", site_b="site-b")
    assert sh.fails(A1, "Enable-VMReplication", "db-01", B1, 80, "Kerberos").error_id == "OperationFailed"
    assert sh.fails(A1, "Test-VMReplicationConnection", B1, 80, "Kerberos").error_id == "OperationFailed"
    sh.backend.clear_fault(fault.id)
    assert "successful" in sh(A1, "Test-VMReplicationConnection", B1, 80, "Kerberos")[0]
    sh.backend.add_fault("host_down", host="hv-b1")
    assert sh.fails(A1, "Enable-VMReplication", "db-01", B1, 80, "Kerberos").error_id == "OperationFailed"
    sh.backend.clear_faults()
    sh.backend.add_fault("storage_full", host=B1)
    assert sh.fails(A1, "Enable-VMReplication", "db-01", B1, 80, "Kerberos").error_id == "OperationFailed"
    assert (
        sh.fails(A1, "Enable-VMReplication", "db-01", "hv-zz.site-b.lab.local", 80, "Kerberos").error_id
        == "OperationFailed"
    )


def test_enable_creates_the_replica_and_refuses_twice(sh: Shell) -> None:
    sh.enable("db-01", RecoveryHistory=4)
    primary, replica = sh.one(A1, "Get-VMReplication", "db-01"), sh.one(B1, "Get-VMReplication", "db-01")
    assert (primary["Mode"].name, primary["State"].name) == ("Primary", "ReadyForInitialReplication")
    assert (replica["Mode"].name, replica["State"].name) == ("Replica", "WaitingForInitialReplication")
    assert primary["Health"] is VMReplicationHealthState.Warning
    assert primary["VSSSnapshotFrequencyHour"] == 4  # reference §1.10: history without a VSS frequency
    assert primary["VMId"] == replica["VMId"] and primary["ReplicaServerName"] == B1
    vm = sh.one(B1, "Get-VM", "db-01")
    assert vm["State"].name == "Off" and vm["ReplicationMode"] is VMReplicationMode.Replica
    assert [a.ps_get("SwitchName") for a in vm["NetworkAdapters"]] == [None]
    assert sh.checksum(A1, "db-01") != sh.checksum(B1, "db-01")
    assert sh.fails(A1, "Enable-VMReplication", "db-01", B1, 80, "Kerberos").error_id == "InvalidState"
    assert sh.fails(A1, "Get-VMReplication", "app-01").error_id == "ObjectNotFound"
    assert [r.ps_get("VMName") for r in sh(A1, "Get-VMReplication")] == ["db-01"]


def test_network_initial_replication_makes_the_copies_equal(sh: Shell) -> None:
    sh.enable("web-01")
    sh(A1, "Start-VMInitialReplication", "web-01")
    assert sh.state(A1, "web-01") == "InitialReplicationInProgress"
    assert sh.state(B1, "web-01") == "WaitingForInitialReplication"
    assert sh.one(A1, "Measure-VMReplication", "web-01")["CurrentTask"] == "Initial replication"
    assert sh.fails(A1, "Start-VMInitialReplication", "web-01").error_id == "InvalidState"
    sh.advance(3600)
    assert (sh.state(A1, "web-01"), sh.state(B1, "web-01")) == ("Replicating", "Replicating")
    sh.to_next_cycle(A1, "web-01")
    assert sh.checksum(A1, "web-01") == sh.checksum(B1, "web-01")
    measure = sh.one(A1, "Measure-VMReplication", "web-01")
    assert measure["InitialReplicationSize"] > 0 and measure["Health"] is VMReplicationHealthState.Normal


def test_scheduled_initial_replication(sh: Shell) -> None:
    sh.enable("web-01")
    now = sh.backend.now()
    for bad in (now - 60, now + 8 * 86400):
        error = sh.fails(A1, "Start-VMInitialReplication", "web-01", InitialReplicationStartTime=to_datetime(bad))
        assert error.error_id == "ParameterArgumentValidationError"
    sh(A1, "Start-VMInitialReplication", "web-01", InitialReplicationStartTime=to_datetime(now + 7200))
    assert sh.one(A1, "Measure-VMReplication", "web-01")["CurrentTask"] == "Initial replication scheduled"
    sh.advance(3600)
    assert sh.state(B1, "web-01") == "WaitingForInitialReplication"
    sh.advance(7200)
    assert sh.state(A1, "web-01") == "Replicating"
    assert (
        sh.fails(
            A1,
            "Start-VMInitialReplication",
            "app-01",
            DestinationPath="E:\\x",
            InitialReplicationStartTime=to_datetime(now + 9000),
        ).error_id
        == "InvalidParameter"
    )


def test_offline_initial_replication_through_export_and_import(sh: Shell) -> None:
    sh.enable("app-01")
    sh(A1, "Start-VMInitialReplication", "app-01", DestinationPath="E:\\IR\\app-01")
    assert sh.state(A1, "app-01") == "InitialReplicationInProgress"
    assert sh.one(B1, "Get-VMReplication", "app-01")["Health"] is VMReplicationHealthState.Warning
    sh.advance(1800)  # the media travels; the primary keeps logging
    assert sh.one(A1, "Measure-VMReplication", "app-01")["PendingReplicationSize"] > 0
    assert sh.fails(A1, "Import-VMInitialReplication", "app-01", "F:\\IR").error_id == "InvalidState"
    sh(B1, "Import-VMInitialReplication", "app-01", "F:\\Media\\app-01")
    assert (sh.state(A1, "app-01"), sh.state(B1, "app-01")) == ("Replicating", "Replicating")
    assert sh.checksum(A1, "app-01") != sh.checksum(B1, "app-01")  # the delta is still to come
    sh.to_next_cycle(A1, "app-01")
    assert sh.checksum(A1, "app-01") == sh.checksum(B1, "app-01")
    assert sh.fails(B1, "Import-VMInitialReplication", "app-01", "F:\\IR").error_id == "InvalidState"


def test_stop_initial_replication_goes_back_to_ready(sh: Shell) -> None:
    sh.enable("db-01")
    sh(A1, "Start-VMInitialReplication", "db-01")
    sh(A1, "Stop-VMInitialReplication", "db-01")
    assert sh.state(A1, "db-01") == "ReadyForInitialReplication"
    sh.advance(3600)
    assert sh.state(B1, "db-01") == "WaitingForInitialReplication"
    assert sh.fails(A1, "Stop-VMInitialReplication", "db-01").error_id == "InvalidState"
