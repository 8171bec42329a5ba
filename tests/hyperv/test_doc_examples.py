"""Microsoft's Hyper-V Replica examples (tests/lab/doc_examples.py) run unchanged through plain pywinrm.

The lab is the estate the pages describe: VM01 on MyPrimary.contoso.com, replicated to MyReplica.contoso.com, with
the adapters the failover-IP examples name. Each example runs in the order its page gives, on the host the page
says, and the states the page describes are read back over the same wire.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import winrm

from hvdr.topology import Topology, parse_topology
from tests.hyperv.conftest import LabDrivers, start_lab
from tests.lab import doc_examples as docs
from tests.lab.doc_examples import PRIMARY, REPLICA, DocExample, commands

REPLICA_SERVER = {"enabled": True, "authentication": "kerberos", "allowed_from_any_server": True}


def doc_topology(*, restored_copy: bool = False) -> Topology:
    """``restored_copy``: VM01 also on MyReplica, off, as restored from backup (Start-VMInitialReplication's
    Example 4 starts from one)."""
    copy = [{"name": "VM01", "host": REPLICA, "power_state": "off", "disks": [{"name": "VM01.vhdx", "size_gb": 1}]}]
    return parse_topology(
        {
            "sites": [{"name": "primary"}, {"name": "recovery"}],
            "hosts": [
                {
                    "fqdn": PRIMARY,
                    "site": "primary",
                    "replica_server": {**REPLICA_SERVER, "default_storage_location": "D:\\Replica"},
                    "switches": [{"name": "Production"}],
                },
                {
                    "fqdn": REPLICA,
                    "site": "recovery",
                    "replica_server": {**REPLICA_SERVER, "default_storage_location": "D:\\Replica"},
                    "switches": [{"name": "Production"}, {"name": "Test", "type": "Private"}],
                },
            ],
            "vms": [
                {
                    "name": "VM01",
                    "host": PRIMARY,
                    "shutdown_s": 20,
                    "boot_s": 20,
                    "disks": [{"name": "VM01.vhdx", "size_gb": 1}],
                    "network_adapters": [
                        {"name": "NetworkAdapter01", "switch": "Production"},
                        {"name": "NetworkAdapter", "switch": "Production"},
                    ],
                },
                *(copy if restored_copy else []),
                {"name": "TestVM", "host": PRIMARY, "disks": [{"name": "TestVM.vhdx", "size_gb": 1}]},
                {"name": "VM1", "host": PRIMARY, "disks": [{"name": "VM1.vhdx", "size_gb": 1}]},
            ],
        }
    )


@pytest.fixture
def lab(tmp_path: Any) -> Iterator[LabDrivers]:
    yield from start_lab(tmp_path, https=False, topology=doc_topology())


def ps(lab: LabDrivers, host: str, script: str) -> winrm.Response:
    ep = lab.endpoint(host)
    return winrm.Session(ep["url"], auth=(ep["username"], ep["password"]), transport="plaintext").run_ps(script)


def run(lab: LabDrivers, host: str, *examples: DocExample) -> str:
    """Runs each example unchanged on ``host``; returns the last one's output."""
    out = ""
    for example in examples:
        assert example.refused is None, example
        result = ps(lab, host, commands(example))
        assert result.status_code == 0, (example.title, example.page, result.std_err.decode())
        out = result.std_out.decode()
    return out


def read(lab: LabDrivers, host: str, script: str) -> str:
    result = ps(lab, host, script)
    assert result.status_code == 0, result.std_err.decode()
    return result.std_out.decode().strip()


def replication(lab: LabDrivers, host: str) -> tuple[str, str]:
    mode, state = read(lab, host, '$r = Get-VMReplication VM01; "$($r.ReplicationMode) $($r.State)"').split()
    return mode, state


def wait_for(lab: LabDrivers, host: str, script: str, expected: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        seen = read(lab, host, script)
        if seen == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"{script!r} on {host}: {seen!r}, expected {expected!r}")


def protect(lab: LabDrivers) -> None:
    """VM01 protected as the pages assume: replication enabled, then Start-VMInitialReplication's Example 1."""
    read(lab, PRIMARY, f"Enable-VMReplication VM01 {REPLICA} 80 Kerberos")
    run(lab, PRIMARY, docs.INITIAL_REPLICATION)
    wait_for(lab, PRIMARY, "(Get-VMReplication VM01).State", "Replicating")


def state_of(lab: LabDrivers, host: str) -> str:
    return read(lab, host, "(Get-VM VM01).State")


def fl(output: str) -> dict[str, str]:
    return dict(
        (key.strip(), value.strip()) for key, _, value in (line.partition(":") for line in output.splitlines()) if _
    )


def test_stop_vm_and_start_vm_examples(lab: LabDrivers) -> None:
    power = 'Get-VM TestVM, VM1 | % { "$($_.Name)=$($_.State)" }'
    run(lab, PRIMARY, docs.STOP_VM)  # through the guest: returns once it is off
    assert read(lab, PRIMARY, power) == "TestVM=Off\r\nVM1=Running"
    run(lab, PRIMARY, docs.START_VM, docs.TURN_OFF)
    assert read(lab, PRIMARY, power) == "TestVM=Off\r\nVM1=Running"
    run(lab, PRIMARY, docs.START_VMS, docs.STOP_VM_FORCE)
    assert read(lab, PRIMARY, power) == "TestVM=Running\r\nVM1=Off"


def test_failover_ip_examples_set_read_and_clear(lab: LabDrivers) -> None:
    protect(lab)
    adapter = "Get-VMNetworkAdapterFailoverConfiguration VM01 -VMNetworkAdapterName NetworkAdapter01 | "
    run(lab, REPLICA, docs.FAILOVER_IPV4, docs.FAILOVER_IPV6)
    assert (
        read(lab, REPLICA, adapter + '% { "$($_.IPv4Address)/$($_.IPv4SubnetMask)" }') == "10.100.1.100/255.255.255.0"
    )
    assert read(lab, REPLICA, adapter + '% { "$($_.IPv6Address)/$($_.IPv6SubnetPrefixLength)" }') == (
        "aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaa:aaaa/12"
    )
    every = run(lab, REPLICA, docs.GET_FAILOVER_IP)
    assert "10.100.1.100" in every
    one = run(lab, REPLICA, docs.GET_FAILOVER_IP_ADAPTER)
    assert "10.100.1.100" not in one  # the other adapter, NetworkAdapter, has no failover address
    run(lab, REPLICA, docs.CLEAR_IPV4, docs.CLEAR_IPV6)
    assert read(lab, REPLICA, adapter + '% { "[$($_.IPv4Address)][$($_.IPv6Address)]" }') == "[][]"


def test_test_failover_examples_create_and_remove_the_test_vm(lab: LabDrivers) -> None:
    protect(lab)
    run(lab, REPLICA, docs.FAILOVER_AS_TEST)
    assert read(lab, REPLICA, "Get-VM | % Name | Sort-Object") == "VM01\r\nVM01 - Test"
    run(lab, REPLICA, docs.STOP_FAILOVER)
    assert read(lab, REPLICA, "Get-VM | % Name") == "VM01"
    # The page's steps: start the test VM it creates, then stop the test failover.
    run(lab, REPLICA, docs.TEST_FAILOVER[0], docs.TEST_FAILOVER[1])
    assert read(lab, REPLICA, "(Get-VM 'VM01 - Test').State") == "Running"
    run(lab, REPLICA, docs.TEST_FAILOVER[2])
    assert read(lab, REPLICA, "Get-VM | % Name") == "VM01"
    # Stop-VMFailover's Example 2 stops every test failover on the host.
    run(lab, REPLICA, docs.FAILOVER_AS_TEST, docs.STOP_FAILOVER_ALL)
    assert read(lab, REPLICA, "Get-VM | % Name") == "VM01"
    assert replication(lab, REPLICA) == ("Replica", "Replicating")


def test_planned_failover_example_then_failback_by_the_page(lab: LabDrivers) -> None:
    protect(lab)
    # Start-VMFailover's Example 4 needs VM01 shut down first (its -Prepare note); the page's first step does that.
    run(lab, REPLICA, docs.FAILOVER_IPV4)  # the replica's address at the site it fails over to
    run(lab, PRIMARY, docs.PLANNED_ON_PRIMARY[0])
    assert state_of(lab, PRIMARY) == "Off"
    run(lab, PRIMARY, docs.PLANNED_FAILOVER)
    assert state_of(lab, REPLICA) in ("Starting", "Running")
    addresses = "Get-VMNetworkAdapter VM01 NetworkAdapter01 | % { $_.IPAddresses -join ',' }"
    wait_for(lab, REPLICA, addresses, "10.100.1.100")  # injected through the guest once it has booted
    assert replication(lab, REPLICA)[0] == "Primary"
    assert replication(lab, PRIMARY)[0] == "Replica"
    wait_for(lab, REPLICA, "(Get-VMReplication VM01).State", "Replicating")
    # Fail back with replication-failover.md's planned failover: MyReplica is now the primary host.
    run(lab, REPLICA, *docs.PLANNED_ON_PRIMARY)
    run(lab, PRIMARY, *docs.PLANNED_ON_REPLICA)
    assert replication(lab, PRIMARY)[0] == "Primary"
    assert replication(lab, REPLICA)[0] == "Replica"
    assert state_of(lab, PRIMARY) in ("Starting", "Running")
    wait_for(lab, PRIMARY, "(Get-VMReplication VM01).State", "Replicating")


def test_unplanned_failover_and_reverse_by_the_page(lab: LabDrivers) -> None:
    protect(lab)
    out = run(lab, REPLICA, *docs.UNPLANNED)
    assert fl(out) == {"VMName": "VM01", "ReplicationMode": "Replica", "ReplicationState": "FailedOver"}
    assert state_of(lab, REPLICA) in ("Starting", "Running")
    # The primary is available again (shut down), and is marked as the target of the reverse replication.
    read(lab, PRIMARY, "Stop-VM VM01 -TurnOff")
    out = run(lab, PRIMARY, *docs.REVERSE_ON_OLD_PRIMARY)
    assert fl(out) == {
        "VMName": "VM01",
        "ReplicationMode": "Replica",
        "ReplicationState": "WaitingForInitialReplication",
    }
    run(lab, REPLICA, *docs.REVERSE_ON_NEW_PRIMARY[:2])
    wait_for(lab, REPLICA, "(Get-VMReplication VM01).State", "Replicating")
    out = run(lab, REPLICA, docs.REVERSE_ON_NEW_PRIMARY[2])
    assert fl(out) == {"VMName": "VM01", "ReplicationMode": "Primary", "ReplicationState": "Replicating"}


def test_reference_reverse_and_complete_examples(lab: LabDrivers) -> None:
    protect(lab)
    run(lab, PRIMARY, docs.PLANNED_ON_PRIMARY[0])
    read(lab, PRIMARY, "Start-VMFailover VM01 -Prepare -Confirm:$false")
    # Set-VMReplication's Example 4 after the replica failed over; Complete-VMFailover's examples on a failover.
    run(lab, REPLICA, docs.PLANNED_ON_REPLICA[0], docs.REVERSE)
    assert replication(lab, REPLICA)[0] == "Primary"
    read(lab, PRIMARY, "Stop-VM VM01 -TurnOff -ErrorAction SilentlyContinue")


def test_complete_failover_examples(lab: LabDrivers) -> None:
    protect(lab)
    run(lab, REPLICA, docs.UNPLANNED[0], docs.COMPLETE_FAILOVER)
    assert replication(lab, REPLICA) == ("Replica", "FailedOver")
    run(lab, REPLICA, docs.COMPLETE_FAILOVER_ALL)  # nothing left to complete: * matches no failover in progress


def test_as_replica_example_on_the_original_primary(lab: LabDrivers) -> None:
    # Set-VMReplication's Example 2 is the page's "mark as replica" step with one allowed primary server: it needs
    # the original primary's replication (a VM never replicated has none to set), so it runs after a failover.
    protect(lab)
    run(lab, REPLICA, docs.UNPLANNED[0], docs.COMPLETE_FAILOVER)
    read(lab, PRIMARY, "Stop-VM VM01 -TurnOff")
    run(lab, PRIMARY, docs.AS_REPLICA_FROM)
    assert replication(lab, PRIMARY) == ("Replica", "WaitingForInitialReplication")
    assert read(lab, PRIMARY, "(Get-VMReplication VM01).AllowedPrimaryServer") == "server01.domain01.contoso.com"


def refusal(lab: LabDrivers, host: str, example: DocExample) -> str:
    assert example.refused
    result = ps(lab, host, commands(example))
    assert result.status_code == 1
    return result.std_err.decode()


def test_recovery_point_examples_are_refused_as_get_vmsnapshot_refuses_a_missing_name(lab: LabDrivers) -> None:
    protect(lab)
    for example in (docs.FAILOVER_SNAPSHOT, docs.FAILOVER_SNAPSHOT_AS_TEST):
        err = refusal(lab, REPLICA, example)
        # Only Get-VMSnapshot's error: Start-VMFailover receives nothing and so never runs, as in PowerShell.
        assert 'Hyper-V was unable to find a checkpoint with name "Snapshot01".' in err
        assert err.count("FullyQualifiedErrorId") == 1
        assert "FullyQualifiedErrorId : ObjectNotFound,Microsoft.HyperV.PowerShell.Commands.GetVMSnapshot" in err
    assert replication(lab, REPLICA) == ("Replica", "Replicating")


def test_misspelt_parameter_example_is_refused_by_the_binder(lab: LabDrivers) -> None:
    protect(lab)
    err = refusal(lab, PRIMARY, docs.RESYNC_TYPO)
    assert "A parameter cannot be found that matches parameter name 'AutoResynchronizedDisabled'." in err
    assert "ParameterBindingException" in err
    assert "FullyQualifiedErrorId : NamedParameterNotFound,Microsoft.HyperV.PowerShell.Commands.SetVMReplication" in err


def test_garbled_initial_replication_from_backup_example(tmp_path: Any) -> None:
    drivers = start_lab(tmp_path, https=False, topology=doc_topology(restored_copy=True))
    lab = next(drivers)
    try:
        err = refusal(lab, PRIMARY, docs.INITIAL_FROM_BACKUP)
        # Line 1 runs: the restored copy on MyReplica becomes a Replica VM waiting for its initial replication.
        assert replication(lab, REPLICA) == ("Replica", "WaitingForInitialReplication")
        # Line 2 names a computer that does not exist; line 3 then finds no replication on the primary's VM01.
        assert "Cannot find the computer MyPrimary.contoso.comPS." in err
        assert "FullyQualifiedErrorId : Unspecified,Microsoft.HyperV.PowerShell.Commands.EnableVMReplication" in err
        assert "Start-VMInitialReplication : " in err
        assert "VirtualizationException" in err and "LabInternalError" not in err
    finally:
        for _ in drivers:
            pass


def test_every_collected_example_is_exercised() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    names = [
        name
        for name, value in vars(docs).items()
        if isinstance(value, DocExample | list) and name.isupper() and name != "ALL_EXAMPLES"
    ]
    missing = [name for name in names if f"docs.{name}" not in source]
    assert not missing, missing
