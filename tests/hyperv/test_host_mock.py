"""WinRMHyperVHost over MockTransport: parsing, classification, and the extra checks the host makes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from hvdr.errors import ConfigError
from hvdr.hyperv import (
    Credential,
    HostConnection,
    HostEndpoint,
    InvalidParameter,
    InvalidReplicationState,
    InvalidVMState,
    MockTransport,
    PSResult,
    ReplicationSettings,
    ScriptFailed,
    VMNotFound,
    WinRMHyperVHost,
)
from hvdr.hyperv.models import ReplicationState, SnapshotType, VMState
from hvdr.hyperv.parsing import as_list, ps_datetime, timespan_seconds

VM = {
    "Name": "db-01",
    "Id": str(uuid.UUID(int=1)),
    "State": "Off",
    "Status": "Operating normally",
    "UptimeSeconds": 0,
    "ComputerName": "HV-A1",
    "ReplicationState": "Replicating",
    "ReplicationHealth": "Normal",
    "ReplicationMode": "Primary",
    "Heartbeat": "",
    "ProcessorCount": 8,
    "MemoryStartup": 34359738368,
    "Generation": 2,
    "Path": "C:\\VMs",
    "NetworkAdapters": {
        "Name": "nic",
        "VMName": "db-01",
        "SwitchName": "vSwitch-Prod",
        "MacAddress": "00155D",
        "IPAddresses": "10.1.0.11",
        "Connected": True,
    },
    "HardDrivePaths": "C:\\VMs\\os.vhdx",
}
ERROR = (
    '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
    '<S S="Error">Complete-VMFailover : nope_x000D__x000A_</S>'
    '<S S="Error">    + CategoryInfo          : InvalidOperation: (:) [], VirtualizationException'
    '_x000D__x000A_</S><S S="Error">    + FullyQualifiedErrorId : '
    "InvalidState,Microsoft.HyperV.PowerShell.Commands.CompleteVMFailover"
    "_x000D__x000A_</S></Objs>"
)


def host_with(handler: Callable[[str], PSResult]) -> tuple[WinRMHyperVHost, MockTransport]:
    transport = MockTransport(handler, host="hv-a1")
    return WinRMHyperVHost(transport), transport


def ok(value: object) -> PSResult:
    return PSResult(json.dumps(value), "", 0)


def test_get_vm_parses_scalars_where_arrays_were_meant() -> None:
    host, transport = host_with(lambda script: ok([VM]))
    vm = host.get_vm("db-01")
    assert vm.state is VMState.OFF and vm.replication_state is ReplicationState.REPLICATING
    assert vm.heartbeat is None and vm.memory_startup_bytes == 32 * 1024**3
    assert vm.network_adapters[0].ip_addresses == ["10.1.0.11"] and vm.hard_drive_paths == ["C:\\VMs\\os.vhdx"]
    assert "Get-VM -Name 'db-01'" in transport.scripts[0]


def test_empty_duplicate_and_malformed_results() -> None:
    with pytest.raises(VMNotFound) as missing:
        host_with(lambda s: ok([]))[0].get_vm("x")
    assert missing.value.vm == "x"
    with pytest.raises(InvalidParameter, match="2 virtual machines"):
        host_with(lambda s: ok([VM, VM]))[0].get_vm("db-01")
    with pytest.raises(ScriptFailed, match="not JSON"):
        host_with(lambda s: PSResult("WARNING: something", "", 0))[0].list_vms()
    with pytest.raises(ScriptFailed, match="unexpected VMState"):
        host_with(lambda s: ok([{**VM, "State": 3}]))[0].list_vms()
    with pytest.raises(ScriptFailed, match="unexpected output shape"):
        host_with(lambda s: ok([{"Name": "x"}]))[0].list_vms()


def test_invalid_state_carries_the_current_state() -> None:
    def handler(script: str) -> PSResult:
        if "Complete-VMFailover" in script:
            return PSResult("", ERROR, 1)
        return ok([VM])

    host, transport = host_with(handler)
    with pytest.raises(InvalidReplicationState) as caught:
        host.complete_failover("db-01")
    assert caught.value.operation == "complete_failover" and caught.value.state == "Replicating"
    assert len(transport.scripts) == 3  # the command, then Get-VM and Get-VMReplication read the state back


def test_an_invalid_state_refusal_of_a_step_already_done_returns_the_state_read_back() -> None:
    """Complete-VMFailover sent twice (the first answer was lost): the second is refused with InvalidState, and
    the driver decides on the state it reads back, not on the refusal."""
    done = {**VM, "ReplicationState": "FailedOver", "ReplicationMode": "Replica"}

    def handler(script: str) -> PSResult:
        if "Complete-VMFailover" in script:
            return PSResult("", ERROR, 1)
        if "Get-VMReplication" in script:
            return ok([{"VMName": "db-01", "VMId": VM["Id"], "ReplicationHealth": "Normal", **done}])
        return ok([done])

    host, _ = host_with(handler)
    assert host.complete_failover("db-01").state == "FailedOver"


def test_an_invalid_state_refusal_of_a_vm_that_is_on_is_invalid_vm_state() -> None:
    stderr = ERROR.replace("CompleteVMFailover", "StartVMFailover")

    def handler(script: str) -> PSResult:
        if "Start-VMFailover" in script:
            return PSResult("", stderr, 1)
        return ok([{**VM, "State": "Running"}])

    host, _ = host_with(handler)
    with pytest.raises(InvalidVMState) as caught:
        host.prepare_failover("db-01")
    assert caught.value.state == "Running" and caught.value.operation == "prepare_failover"


def test_recovery_points_are_filtered_and_sorted() -> None:
    points = [
        {
            "Name": "b",
            "Id": str(uuid.UUID(int=2)),
            "VMName": "db-01",
            "SnapshotType": "Replica",
            "CreationTime": "/Date(2000)/",
        },
        {
            "Name": "a",
            "Id": str(uuid.UUID(int=1)),
            "VMName": "db-01",
            "SnapshotType": "AppConsistentReplica",
            "CreationTime": "/Date(1000)/",
        },
        {
            "Name": "user",
            "Id": str(uuid.UUID(int=3)),
            "VMName": "db-01",
            "SnapshotType": "Standard",
            "CreationTime": "/Date(500)/",
        },
    ]
    result = host_with(lambda s: ok(points))[0].list_recovery_points("db-01")
    assert [p.name for p in result] == ["a", "b"]
    assert result[0].snapshot_type is SnapshotType.APP_CONSISTENT_REPLICA
    assert result[0].creation_time == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_operator_script_results() -> None:
    host, transport = host_with(lambda s: PSResult("done\r\n", "", 0))
    assert host.run_script("Write-Output 'done'", 5).stdout == "done\r\n"
    assert transport.scripts[0].endswith("\nWrite-Output 'done'")
    with pytest.raises(ScriptFailed) as caught:
        host_with(lambda s: PSResult("", "", 4))[0].run_script("exit 4", 5)
    assert caught.value.script_exit_code == 4


def test_connection_test_failure_is_a_result() -> None:
    stderr = ERROR.replace(
        "InvalidState,Microsoft.HyperV.PowerShell.Commands.CompleteVMFailover",
        ("OperationFailed,Microsoft.HyperV.PowerShell.Commands.TestVMReplicationConnection"),
    )
    result = host_with(lambda s: PSResult("", stderr, 1))[0].test_replication_connection(
        ReplicationSettings(replica_server="hv-b1")
    )
    assert not result.succeeded and "nope" in result.message


def test_parsing_helpers() -> None:
    assert ps_datetime("/Date(1704164645000)/") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert ps_datetime("/Date(-62135596800000)/") is None and ps_datetime(None) is None
    assert ps_datetime("2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert timespan_seconds({"TotalSeconds": 12.5}) == 12.5 and timespan_seconds("01:00:30") == 3630
    assert as_list(None) == [] and as_list("a") == ["a"] and as_list(["a", None]) == ["a"]


def test_endpoint_rules_and_secrets() -> None:
    with pytest.raises(ValueError, match="plain HTTP needs insecure=True"):
        HostEndpoint(name="h", url="http://h:5985/wsman")
    with pytest.raises(ValueError, match="certificate transport"):
        HostEndpoint(name="h", url="https://h:5986/wsman", transport="certificate")
    with pytest.raises(ConfigError):
        HostConnection.basic("h", "http://h:5985/wsman", "u", "p")
    endpoint = HostEndpoint(name="h", url="https://h:5986/wsman", credential_ref="vault:h")
    secret = "S3cr3t-Pa55"
    connection = HostConnection.resolve(endpoint, lambda ref: Credential(username="u", password=SecretStr(secret)))
    assert secret not in repr(connection) and secret not in str(connection)
    assert secret not in connection.model_dump_json()
    with pytest.raises(ConfigError, match="not configured"):
        HostConnection.resolve(endpoint, lambda ref: {}[ref])


def test_failover_ip_settings_and_the_test_switch() -> None:
    setting = {
        "VMName": "db-01",
        "VMNetworkAdapterName": "nic",
        "IPv4Address": "10.2.0.11",
        "IPv4SubnetMask": "255.255.255.0",
        "IPv4DefaultGateway": None,
        "IPv4PreferredDNSServer": "10.2.0.2",
        "IPv4AlternateDNSServer": "10.2.0.3",
        "IPv6Address": "fd00::11",
        "IPv6SubnetPrefixLength": 64,
        "IPv6DefaultGateway": "fd00::1",
        "IPv6PreferredDNSServer": None,
        "IPv6AlternateDNSServer": "fd00::3",
    }
    host, transport = host_with(lambda script: ok(setting))  # one object comes back as a scalar
    (read,) = host.get_failover_ip("db-01")
    assert (read.vm_name, read.adapter_name) == ("db-01", "nic")
    assert (read.config.ipv4_address, read.config.ipv4_default_gateway) == ("10.2.0.11", None)
    assert (read.config.ipv6_prefix_length, read.config.ipv6_alternate_dns) == (64, "fd00::3")
    assert "Get-VMNetworkAdapterFailoverConfiguration -VMName 'db-01'" in transport.scripts[0]

    adapter = {
        "Name": "nic",
        "VMName": "db-01",
        "SwitchName": None,
        "Connected": False,
        "TestReplicaSwitchName": "dr-test",
    }
    host, transport = host_with(lambda script: ok([adapter]))
    (nic,) = host.set_test_switch("db-01", "dr-test", "nic")
    assert nic.test_replica_switch_name == "dr-test" and nic.switch_name is None
    assert (
        "Set-VMNetworkAdapter -VMName 'db-01' -Name 'nic' -TestReplicaSwitchName 'dr-test' -Confirm:$false"
        in transport.scripts[0]
    )
