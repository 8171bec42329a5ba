"""Builders: quoting, the command-line budget, and what each emits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from hvdr.hyperv import scripts
from hvdr.hyperv.errors import InvalidParameter
from hvdr.hyperv.models import (
    FailoverIPConfig,
    InitialReplicationMethod,
    ReplicationSettings,
    ReplicationUpdate,
    StopMode,
)
from hvdr.lab.powershell import run_script
from tests.lab.wire.fakes import FakeHost

HOSTILE = [
    'it\'s $(rm) "x"',
    "Сервер-БД-01",
    "a\u2019b\u2018c\u201ad\u201be",
    "semi;colon | pipe & amp `tick` {brace} @(x) $null",
    "line\nbreak",
    "",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_ps_quote_round_trips_through_powershell(name: str) -> None:
    out: list[str] = []
    result = run_script(FakeHost(), f"Write-Output {scripts.ps_quote(name)}", write_stdout=out.append)
    assert result.exit_code == 0, result.stderr
    assert "".join(out) == (name + "\r\n" if name else "\r\n")


def test_ps_quote_doubles_every_quote_character() -> None:
    assert scripts.ps_quote("it's") == "'it''s'"
    assert scripts.ps_quote("a\u2019b") == "'a\u2019\u2019b'"
    assert scripts.ps_quote('$(rm) "x"') == "'$(rm) \"x\"'"


def test_ps_name_escapes_wildcards_only_when_present() -> None:
    assert scripts.ps_name("web-01") == "'web-01'"
    assert scripts.ps_name("a`b") == "'a`b'"
    assert scripts.ps_name("web[1]*?`") == "'web`[1`]`*`?``'"


def test_values() -> None:
    assert scripts.ps_bool(True) == "$true" and scripts.ps_bool(False) == "$false"
    assert scripts.ps_datetime(datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)) == (
        "([datetime]'2025-03-04T05:06:07.000000Z')"
    )
    assert scripts.ps_guid(uuid.UUID(int=5)) == "([guid]'00000000-0000-0000-0000-000000000005')"


def test_every_script_starts_with_the_prologue_and_uses_no_confirm_prompt() -> None:
    script = scripts.stop_vm("db-01", StopMode.TURN_OFF)
    assert script.startswith("$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'\n")
    assert "Stop-VM -Name 'db-01' -TurnOff -Confirm:$false\n" in script
    assert "-Force" in scripts.stop_vm("db-01", StopMode.FORCE)
    assert "-TurnOff" not in scripts.stop_vm("db-01") and "-Force" not in scripts.stop_vm("db-01")


def test_enums_are_cast_to_names() -> None:
    script = scripts.get_replication("db-01")
    for prop in ("ReplicationState", "ReplicationHealth", "ReplicationMode", "AuthenticationType"):
        assert f"@{{n='{prop}';e={{[string]$_.{prop}}}}}" in script
    assert script.endswith("-Depth 4 -Compress")


def test_builders_emit_the_documented_cmdlets() -> None:
    settings = ReplicationSettings(
        replica_server="hv-b1.lab",
        recovery_history=4,
        vss_snapshot_frequency_hour=1,
        excluded_vhd_paths=["D:\\pagefile.vhdx", "D:\\temp.vhdx"],
    )
    enable = scripts.enable_replication("db-01", settings)
    assert (
        "Enable-VMReplication -VMName 'db-01' -ReplicaServerName 'hv-b1.lab' -ReplicaServerPort 80 "
        "-AuthenticationType 'Kerberos' -ReplicationFrequencySec 300 -RecoveryHistory 4 "
        "-VSSSnapshotFrequencyHour 1 -CompressionEnabled $true -AutoResynchronizeEnabled $false "
        "-ExcludedVhdPath 'D:\\pagefile.vhdx','D:\\temp.vhdx' -Confirm:$false"
    ) in enable
    point = uuid.UUID(int=7)
    failover = scripts.start_failover("db-01", recovery_point=point, as_test=True)
    assert "$s = Get-VMSnapshot -Id ([guid]'00000000-0000-0000-0000-000000000007')\n" in failover
    assert "Start-VMFailover -VMRecoverySnapshot $s -AsTest -Confirm:$false | Out-Null" in failover
    assert "Start-VMFailover -VMName 'db-01' -Prepare -Confirm:$false" in scripts.prepare_failover("db-01")
    assert "Set-VMReplication -VMName 'db-01' -Reverse -ReplicaServerName 'hv-a1' -Confirm:$false" in (
        scripts.reverse_replication("db-01", ReplicationUpdate(replica_server="hv-a1"))
    )
    assert "Set-VMReplication -VMName 'db-01' -AsReplica -Confirm:$false" in scripts.set_as_replica("db-01")
    scheduled = scripts.start_initial_replication(
        "db-01", InitialReplicationMethod.SCHEDULED, start_time=datetime(2030, 1, 1, tzinfo=UTC)
    )
    assert "-InitialReplicationStartTime ([datetime]'2030-01-01T00:00:00.000000Z')" in scheduled
    export = scripts.start_initial_replication("db-01", InitialReplicationMethod.EXPORT, destination_path="E:\\ir")
    assert "-DestinationPath 'E:\\ir'" in export
    with pytest.raises(InvalidParameter):
        scripts.start_initial_replication("db-01", InitialReplicationMethod.SCHEDULED)
    resync = scripts.resume_replication("db-01", resynchronize=True, start_time=datetime(2030, 1, 1, tzinfo=UTC))
    assert "Resume-VMReplication -VMName 'db-01' -Resynchronize -ResynchronizeStartTime" in resync
    fip = scripts.set_failover_ip(
        "db-01", FailoverIPConfig(ipv4_address="10.2.0.11", ipv4_subnet_mask="255.0.0.0"), "nic"
    )
    assert (
        "Set-VMNetworkAdapterFailoverConfiguration -VMName 'db-01' -VMNetworkAdapterName 'nic' "
        "-IPv4Address '10.2.0.11' -IPv4SubnetMask '255.0.0.0' -Confirm:$false"
    ) in fip
    fip6 = scripts.set_failover_ip(
        "db-01",
        FailoverIPConfig(
            ipv6_address="fd00::11", ipv6_prefix_length=64, ipv6_preferred_dns="fd00::2", ipv6_alternate_dns="fd00::3"
        ),
    )
    assert (
        "-IPv6Address 'fd00::11' -IPv6PreferredDNSServer 'fd00::2' -IPv6AlternateDNSServer 'fd00::3' "
        "-IPv6SubnetPrefixLength 64 -Confirm:$false"
    ) in fip6


def test_command_line_budget() -> None:
    long_name = "n" * 255  # longer than Hyper-V allows for a VM name
    for script in (
        scripts.list_vms(),
        scripts.get_vm(long_name),
        scripts.get_replication(long_name),
        scripts.enable_replication(long_name, ReplicationSettings(replica_server="r" * 255)),
    ):
        assert len(scripts.encoded_command(script)) <= scripts.COMMAND_LINE_LIMIT
    with pytest.raises(InvalidParameter, match="limit is 8191"):
        scripts.operator_script("Write-Output '" + "x" * 3100 + "'")
    assert scripts.operator_script("Write-Output '" + "x" * 2900 + "'")
