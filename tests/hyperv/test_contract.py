"""The lab's PowerShell grammar and the driver's builders are one contract.

Every builder's output parses in the lab; every grammar feature and built-in command the lab accepts is
used by some builder, except the operator-script features GRAMMAR.md lists.
"""

from __future__ import annotations

import inspect
import uuid
from datetime import UTC, datetime

import pytest

from hvdr.hyperv import scripts
from hvdr.hyperv.models import (
    FailoverIPConfig,
    InitialReplicationMethod,
    ReplicaServerSettings,
    ReplicationSettings,
    ReplicationUpdate,
    ServerAuthenticationType,
    StopMode,
)
from hvdr.lab.powershell import ALL_FEATURES, parse
from hvdr.lab.powershell.builtins import BUILTINS, OPERATOR_COMMANDS
from hvdr.lab.powershell.parser import OPERATOR_FEATURES

NAMES = ["db-01", 'it\'s $(rm) "x"', "Сервер-БД", "a\u2019b", "web[1]*"]
WHEN = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
SETTINGS = ReplicationSettings(
    replica_server="hv-b1.site-b.lab.local",
    certificate_thumbprint="AB'CD",
    recovery_history=4,
    vss_snapshot_frequency_hour=1,
    excluded_vhd_paths=["D:\\p'f.vhdx"],
)
UPDATE = ReplicationUpdate(
    replica_server="hv-a1",
    replica_port=443,
    frequency_sec=30,
    compression_enabled=False,
    auto_resynchronize_enabled=True,
    recovery_history=2,
    vss_snapshot_frequency_hour=2,
    authentication_type="Certificate",
    certificate_thumbprint="T",
)


def cases(vm: str) -> dict[str, list[str]]:
    """Every builder, with arguments that reach each of its branches."""
    return {
        "list_vms": [scripts.list_vms()],
        "get_vm": [scripts.get_vm(vm)],
        "get_replication": [scripts.get_replication(vm)],
        "measure_replication": [scripts.measure_replication(), scripts.measure_replication(vm)],
        "get_replication_server": [scripts.get_replication_server()],
        "list_recovery_points": [scripts.list_recovery_points(vm)],
        "get_network_adapters": [scripts.get_network_adapters(vm)],
        "get_heartbeat": [scripts.get_heartbeat(vm)],
        "get_heartbeats": [scripts.get_heartbeats([vm, "web-01"])],
        "get_host_time": [scripts.get_host_time()],
        "get_drive_space": [scripts.get_drive_space("D:\\Hyper-V Replica")],
        "list_switches": [scripts.list_switches()],
        "remove_vm": [scripts.remove_vm(vm)],
        "test_replication_connection": [scripts.test_replication_connection(SETTINGS)],
        "configure_replica_server": [
            scripts.configure_replica_server(ReplicaServerSettings()),
            scripts.configure_replica_server(
                ReplicaServerSettings(
                    authentication_type=ServerAuthenticationType.CERTIFICATE_AND_KERBEROS,
                    allow_any_server=False,
                    default_storage_location="D:\\Hyper-V Replica",
                    certificate_port=443,
                    certificate_thumbprint="T",
                )
            ),
        ],
        "enable_replication": [scripts.enable_replication(vm, SETTINGS)],
        "start_initial_replication": [
            scripts.start_initial_replication(vm),
            scripts.start_initial_replication(vm, InitialReplicationMethod.SCHEDULED, start_time=WHEN),
            scripts.start_initial_replication(vm, InitialReplicationMethod.EXPORT, destination_path="E:\\it's"),
        ],
        "import_initial_replication": [scripts.import_initial_replication(vm, "E:\\ir")],
        "suspend_replication": [scripts.suspend_replication(vm)],
        "resume_replication": [
            scripts.resume_replication(vm),
            scripts.resume_replication(vm, resynchronize=True, start_time=WHEN),
        ],
        "set_replication": [scripts.set_replication(vm, UPDATE)],
        "reverse_replication": [scripts.reverse_replication(vm), scripts.reverse_replication(vm, UPDATE)],
        "set_as_replica": [scripts.set_as_replica(vm), scripts.set_as_replica(vm, "hv-b1")],
        "remove_replication": [scripts.remove_replication(vm)],
        "stop_vm": [scripts.stop_vm(vm, mode) for mode in StopMode],
        "start_vm": [scripts.start_vm(vm)],
        "prepare_failover": [scripts.prepare_failover(vm)],
        "start_failover": [
            scripts.start_failover(vm),
            scripts.start_failover(vm, as_test=True),
            scripts.start_failover(vm, recovery_point=uuid.uuid4(), as_test=True),
        ],
        "complete_failover": [scripts.complete_failover(vm)],
        "stop_failover": [scripts.stop_failover(vm)],
        "connect_network_adapter": [
            scripts.connect_network_adapter(vm, "vSwitch-DR"),
            scripts.connect_network_adapter(vm, "vSwitch-DR", "Network Adapter"),
        ],
        "set_failover_ip": [
            scripts.set_failover_ip(
                vm,
                FailoverIPConfig(
                    ipv4_address="10.2.0.11",
                    ipv4_subnet_mask="255.255.255.0",
                    ipv4_default_gateway="10.2.0.1",
                    ipv4_preferred_dns="10.2.0.2",
                    ipv4_alternate_dns="10.2.0.3",
                    ipv6_address="fd00::11",
                    ipv6_prefix_length=64,
                    ipv6_default_gateway="fd00::1",
                    ipv6_preferred_dns="fd00::2",
                    ipv6_alternate_dns="fd00::3",
                ),
                "nic",
            )
        ],
        "get_failover_ip": [scripts.get_failover_ip(vm)],
        "set_test_switch": [
            scripts.set_test_switch(vm, "vSwitch-Test"),
            scripts.set_test_switch(vm, "vSwitch-Test", "Network Adapter"),
        ],
        "vmm_clouds": [scripts.vmm_clouds()],
        "vmm_hosts": [scripts.vmm_hosts()],
        "vmm_vms": [scripts.vmm_vms()],
    }


# Features that only operator scripts use (GRAMMAR.md, "Features no builder uses").
OPERATOR_ONLY_FEATURES = set(OPERATOR_FEATURES)
OPERATOR_ONLY_COMMANDS = set(OPERATOR_COMMANDS)


def _builders() -> set[str]:
    helpers = {
        "ps_quote",
        "ps_name",
        "ps_names",
        "ps_bool",
        "ps_datetime",
        "ps_guid",
        "encoded_command",
        "finish",
        "operator_script",
    }
    return {
        name
        for name, fn in inspect.getmembers(scripts, inspect.isfunction)
        if fn.__module__ == scripts.__name__ and not name.startswith("_") and name not in helpers
    }


def test_every_builder_is_exercised() -> None:
    assert set(cases("x")) == _builders()


@pytest.mark.parametrize("vm", NAMES)
def test_every_builder_output_parses_in_the_lab(vm: str) -> None:
    for builder, outputs in cases(vm).items():
        for script in outputs:
            parsed = parse(script)
            assert parsed.statements, builder
            assert len(scripts.encoded_command(script)) <= scripts.COMMAND_LINE_LIMIT


def test_the_lab_accepts_nothing_the_builders_do_not_use() -> None:
    used: set[str] = set()
    for vm in NAMES:
        for outputs in cases(vm).values():
            for script in outputs:
                used |= parse(script).features
    grammar = {f for f in used if not f.startswith("command:")}
    assert ALL_FEATURES - grammar == OPERATOR_ONLY_FEATURES
    assert grammar <= ALL_FEATURES
    commands = {f.removeprefix("command:") for f in used if f.startswith("command:")}
    assert set(BUILTINS) - commands == OPERATOR_ONLY_COMMANDS


def test_operator_script_subset_parses() -> None:
    body = """# every operator-only feature once <# and a block comment #>
<# block #>
$vms = @(Get-VM | Where-Object { $_.State -eq 'Running' -and -not $false })
$count = 0.5
$count += 1
foreach ($vm in $vms) { if ($vm.Name -like 'db*') { continue } elseif ($vm.Name -eq 'x') { break } else { $count } }
try { Get-VM -Name db-01 -ErrorAction Stop } catch { Write-Output "failed: $($_.Exception.Message)" }
Write-Output 10.2.0.11 1.5 80 $env:TEMP\\x
$h = @"
here $count
"@
$s = 'abc'.ToUpper() + $vms[0] + [math]::Round(1.5) + ($vms -is [array])
[long]1; [double]1; [bool]1; [timespan]'00:01:00'; [array]1; [string[]]1; [int[]]1; [hashtable]@{}; [object]1
[void]1
Hyper-V\\Get-VM `
  -Name x
Start-Sleep 1 2>$null
throw 'x'
exit 3
return"""
    features = parse(scripts.operator_script(body)).features
    assert features >= OPERATOR_ONLY_FEATURES, OPERATOR_ONLY_FEATURES - features
