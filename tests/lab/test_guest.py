"""Time and the guest: shutdown and boot durations, the final sync, heartbeat, failover IP, the test switch,
split brain. The clock is frozen: a cmdlet that waits moves it, so a call's simulated duration is exact."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hvdr.lab.cmdlets import ps_hosts
from hvdr.lab.models.backend import LabBackend
from hvdr.lab.models.build import build_backend
from hvdr.lab.models.clock import LabClock
from hvdr.lab.models.enums import VMHeartbeatStatus, VMState
from hvdr.lab.models.guest import SHUTDOWN_WINDOW
from hvdr.lab.seam import Invocation
from hvdr.topology import parse_topology
from tests.lab.conftest import A1, B1, Shell

V4: dict[str, Any] = {
    "IPv4Address": "10.2.0.21",
    "IPv4SubnetMask": "255.255.255.0",
    "IPv4DefaultGateway": "10.2.0.1",
    "IPv4PreferredDNSServer": "10.2.0.2",
    "IPv4AlternateDNSServer": "10.2.0.3",
}
V6: dict[str, Any] = {
    "IPv6Address": "fd00:2::21",
    "IPv6SubnetPrefixLength": 64,
    "IPv6DefaultGateway": "fd00:2::1",
    "IPv6PreferredDNSServer": "fd00:2::2",
    "IPv6AlternateDNSServer": "fd00:2::3",
}
FAILOVER_IPS = ["10.2.0.21", "fd00:2::21"]
BOOT_S, SHUTDOWN_S = 40.0, 45.0


def topology(link_mib_per_s: float = 1.0, write_kib_per_s: float = 256) -> dict[str, Any]:
    replica = {
        "enabled": True,
        "authentication": "kerberos",
        "allowed_from_any_server": True,
        "default_storage_location": "D:\\Replica",
    }
    return {
        "sites": [{"name": "site-a"}, {"name": "site-b"}],
        "hosts": [
            {"fqdn": A1, "site": "site-a", "replica_server": replica, "switches": [{"name": "prod"}]},
            {
                "fqdn": B1,
                "site": "site-b",
                "replica_server": replica,
                "switches": [{"name": "dr"}, {"name": "dr-test", "type": "Private"}],
            },
        ],
        "vms": [
            {
                "name": "vm1",
                "host": A1,
                "tier": "t",
                "boot_s": BOOT_S,
                "shutdown_s": SHUTDOWN_S,
                "disks": [{"name": "vm1.vhdx", "size_gb": 4}],
                "network_adapters": [{"switch": "prod", "ip_addresses": ["10.1.0.21"]}],
            },
            {"name": "vm2", "host": A1, "tier": "t", "disks": [{"name": "vm2.vhdx", "size_gb": 4}]},
        ],
        "lab": {
            "workload": {"t": {"write_kib_per_s": write_kib_per_s, "write_size_kib": 64, "hot_fraction": 1.0}},
            "block_size_mib": 1,
            "link_mib_per_s": link_mib_per_s,
        },
    }


def make(**kwargs: Any) -> Shell:
    return Shell(build_backend(parse_topology(topology(**kwargs)), LabClock(speed=0)))


@pytest.fixture
def g() -> Shell:
    return make()


def timed(sh: Shell, host: str, cmdlet: str, *args: Any, **named: Any) -> float:
    """Run a cmdlet; returns the simulated seconds it took."""
    before = sh.backend.now()
    sh(host, cmdlet, *args, **named)
    return sh.backend.now() - before


def heartbeat(sh: Shell, host: str, vm: str) -> tuple[Any, Any]:
    (hb,) = sh(host, "Get-VMIntegrationService", vm, Name="Heartbeat")
    return sh.one(host, "Get-VM", vm)["Heartbeat"], hb.ps_get("PrimaryStatusDescription")


def ips(sh: Shell, host: str, vm: str) -> list[str]:
    (adapter,) = sh(host, "Get-VMNetworkAdapter", vm)
    return list(adapter.ps_get("IPAddresses"))


# -- shutdown ---------------------------------------------------------------------------------------------


def test_stop_vm_returns_when_the_guest_has_shut_down(g: Shell) -> None:
    assert timed(g, A1, "Stop-VM", "vm1") == SHUTDOWN_S
    assert g.vm(A1, "vm1").state is VMState.Off
    assert timed(g, A1, "Stop-VM", "vm2") == 30.0  # the topology's default: a Windows-like half minute
    g(A1, "Start-VM", "vm1")
    assert timed(g, A1, "Stop-VM", "vm1", TurnOff=True) == 0  # -TurnOff is immediate
    g(A1, "Start-VM", "vm1")
    g.advance(BOOT_S)
    assert timed(g, A1, "Stop-VM", "vm1", Force=True) == SHUTDOWN_S  # a guest that answers shuts down normally


def test_force_gives_a_hung_guest_five_minutes_then_turns_it_off(g: Shell) -> None:
    g.backend.add_fault("hung_guest", host="hv-a1", vm="vm1")
    assert timed(g, A1, "Stop-VM", "vm1", Force=True) == SHUTDOWN_WINDOW == 300
    assert g.vm(A1, "vm1").state is VMState.Off


def test_a_hung_guest_makes_stop_vm_fail_as_the_host_does(g: Shell) -> None:
    g.backend.add_fault("hung_guest", host=A1, vm="vm1")
    before = g.backend.now()
    error = g.fails(A1, "Stop-VM", "vm1")
    assert g.backend.now() - before == SHUTDOWN_WINDOW
    assert (error.error_id, error.category) == ("OperationFailed", "NotSpecified")
    assert error.message.startswith("Failed to stop.")
    assert g.vm(A1, "vm1").state is VMState.Running  # the guest is still up
    g.backend.clear_faults()
    assert timed(g, A1, "Stop-VM", "vm1") == SHUTDOWN_S


def test_stop_vm_waits_at_the_labs_speed_and_turn_off_ends_the_wait() -> None:
    backend = build_backend(parse_topology(topology()), LabClock(speed=600))
    host = ps_hosts(backend)[A1]
    backend.add_fault("hung_guest", host=A1, vm="vm1")
    stop, turn_off = host.cmdlet("Stop-VM"), host.cmdlet("Stop-VM")
    assert stop is not None and turn_off is not None
    outcome: list[Any] = []
    waiter = threading.Thread(target=lambda: outcome.append(stop(Invocation("Stop-VM", [("Force", True)], ["vm1"]))))
    start = backend.now()
    waiter.start()
    while backend.now() - start < 60:  # the guest is given time: the lock is free meanwhile
        assert waiter.is_alive()
        threading.Event().wait(0.01)
    turn_off(Invocation("Stop-VM", [("TurnOff", True)], ["vm1"]))
    waiter.join(5)
    assert not waiter.is_alive() and outcome == [[]]
    assert backend.now() - start < SHUTDOWN_WINDOW
    assert backend.require_host(A1).vms_named("vm1")[0].state is VMState.Off


# -- final sync --------------------------------------------------------------------------------------------


def _pending_after(sh: Shell, run_s: float) -> int:
    """Protect vm1, let the guest write for ``run_s`` after a cycle, turn it off; the unsent bytes."""
    sh.protect("vm1")
    sh.to_next_cycle(A1, "vm1")
    sh.advance(run_s)
    sh(A1, "Stop-VM", "vm1", TurnOff=True)
    sh.backend.catch_up(sh.vm(A1, "vm1"), sh.backend.now())
    return sh.rel(A1, "vm1").pending_bytes()


@pytest.mark.parametrize("run_s", [60, 240])
def test_prepare_takes_as_long_as_the_unsent_changes_take_over_the_link(run_s: float) -> None:
    sh = make(link_mib_per_s=1.0)
    pending = _pending_after(sh, run_s)
    assert pending == run_s * 256 * 1024  # 256 KiB/s of guest writes
    took = timed(sh, A1, "Start-VMFailover", "vm1", Prepare=True)
    # compressed (half the bytes) over a 1 MiB/s link, plus the link's base latency
    assert took == pytest.approx(0.2 + pending / 2 / 1024**2)
    assert sh.state(A1, "vm1") == "PreparedForFailover"
    assert sh.checksum(A1, "vm1") == sh.checksum(B1, "vm1")


# -- boot and heartbeat ------------------------------------------------------------------------------------


def test_heartbeat_appears_once_the_guest_has_booted(g: Shell) -> None:
    g(A1, "Stop-VM", "vm1", TurnOff=True)
    assert heartbeat(g, A1, "vm1") == (None, None)
    g(A1, "Start-VM", "vm1")
    assert heartbeat(g, A1, "vm1") == (VMHeartbeatStatus.NoContact, "No Contact")
    assert ips(g, A1, "vm1") == []  # no KVP yet
    g.advance(BOOT_S - 1)
    assert heartbeat(g, A1, "vm1")[0] is VMHeartbeatStatus.NoContact
    g.advance(1)
    assert heartbeat(g, A1, "vm1") == (VMHeartbeatStatus.OkApplicationsUnknown, "OK")
    assert ips(g, A1, "vm1") == ["10.1.0.21"]


def test_slow_boot_delays_the_heartbeat(g: Shell) -> None:
    g.backend.add_fault("slow_boot", host=A1, vm="vm1", seconds=120)
    g(A1, "Stop-VM", "vm1", TurnOff=True)
    g(A1, "Start-VM", "vm1")
    g.advance(BOOT_S + 119)
    assert heartbeat(g, A1, "vm1")[0] is VMHeartbeatStatus.NoContact
    g.advance(1)
    assert heartbeat(g, A1, "vm1")[0] is VMHeartbeatStatus.OkApplicationsUnknown


def test_integration_services_off_means_no_heartbeat_no_addresses_no_shutdown(g: Shell) -> None:
    fault = g.backend.add_fault("integration_services_off", host=A1, vm="vm1")
    assert heartbeat(g, A1, "vm1") == (VMHeartbeatStatus.NoContact, "No Contact")
    assert ips(g, A1, "vm1") == []
    assert g.fails(A1, "Stop-VM", "vm1").error_id == "InvalidState"
    g.backend.clear_fault(fault.id)
    assert heartbeat(g, A1, "vm1")[0] is VMHeartbeatStatus.OkApplicationsUnknown
    assert ips(g, A1, "vm1") == ["10.1.0.21"]


def test_guest_faults_name_an_existing_vm(g: Shell) -> None:
    with pytest.raises(ValueError, match="no VM named 'nope'"):
        g.backend.add_fault("hung_guest", host=A1, vm="nope")
    with pytest.raises(ValueError, match="needs vm"):
        g.backend.add_fault("slow_boot", host=A1, seconds=5)


# -- failover IP and the test switch -----------------------------------------------------------------------


def _configure_replica(sh: Shell) -> None:
    sh.protect("vm1")
    sh(B1, "Set-VMNetworkAdapterFailoverConfiguration", "vm1", **V4, **V6)
    (setting,) = sh(B1, "Get-VMNetworkAdapterFailoverConfiguration", "vm1")
    assert {k: setting.ps_get(k) for k in {**V4, **V6}} == {**V4, **V6}


def _boot_and_check(sh: Shell, host: str, vm: str) -> None:
    """Started just now: no address until the guest has booted, then the failover IPs (v4 and v6)."""
    assert ips(sh, host, vm) == []
    sh.advance(BOOT_S - 1)
    assert ips(sh, host, vm) == []
    sh.advance(1)
    assert ips(sh, host, vm) == FAILOVER_IPS


def test_planned_failover_applies_the_failover_ip_after_boot(g: Shell) -> None:
    _configure_replica(g)
    g(A1, "Stop-VM", "vm1")
    g(A1, "Start-VMFailover", "vm1", Prepare=True)
    g(B1, "Start-VMFailover", "vm1")
    g(B1, "Set-VMReplication", "vm1", Reverse=True)
    g(B1, "Start-VM", "vm1")
    _boot_and_check(g, B1, "vm1")
    g(B1, "Stop-VM", "vm1")
    g(B1, "Start-VM", "vm1")
    g.advance(BOOT_S)
    assert ips(g, B1, "vm1") == FAILOVER_IPS  # the guest keeps what it applied


def test_unplanned_failover_reports_the_failover_ip_only_after_boot(g: Shell) -> None:
    _configure_replica(g)
    g.backend.add_fault("host_down", host=A1)
    g(B1, "Start-VMFailover", "vm1")
    g(B1, "Start-VM", "vm1")
    _boot_and_check(g, B1, "vm1")


def test_failover_ip_needs_the_integration_services(g: Shell) -> None:
    _configure_replica(g)
    fault = g.backend.add_fault("integration_services_off", host=B1, vm="vm1")
    g(B1, "Start-VMFailover", "vm1")
    g(B1, "Start-VM", "vm1")
    g.advance(BOOT_S * 3)
    assert ips(g, B1, "vm1") == []
    g.backend.clear_fault(fault.id)
    assert ips(g, B1, "vm1") == FAILOVER_IPS


def test_test_failover_connects_to_the_test_switch_and_gets_the_failover_ip(g: Shell) -> None:
    _configure_replica(g)
    (adapter,) = g(B1, "Set-VMNetworkAdapter", "vm1", TestReplicaSwitchName="dr-test", Passthru=True)
    assert adapter.ps_get("TestReplicaSwitchName") == "dr-test" and adapter.ps_get("SwitchName") is None
    assert g(B1, "Start-VMFailover", "vm1", AsTest=True) == []
    (test_adapter,) = g(B1, "Get-VMNetworkAdapter", "vm1 - Test")
    assert test_adapter.ps_get("SwitchName") == "dr-test"
    g(B1, "Start-VM", "vm1 - Test")
    _boot_and_check(g, B1, "vm1 - Test")
    assert ips(g, B1, "vm1") == []  # the replica itself stays off
    error = g.fails(B1, "Set-VMNetworkAdapter", "vm1", TestReplicaSwitchName="nowhere")
    assert error.error_id == "ObjectNotFound"


def test_failover_ip_parameters_are_checked(g: Shell) -> None:
    error = g.fails(A1, "Set-VMNetworkAdapterFailoverConfiguration", "vm1", IPv6Address="fd00::1")
    assert error.target == "IPv6SubnetPrefixLength"
    error = g.fails(A1, "Set-VMNetworkAdapterFailoverConfiguration", "vm1", IPv4SubnetMask="255.0.0.0")
    assert error.target == "IPv4Address"
    g(A1, "Set-VMNetworkAdapterFailoverConfiguration", "vm1", **V4, **V6)
    g(A1, "Set-VMNetworkAdapterFailoverConfiguration", "vm1", ClearFailoverIPv4Settings=True)
    setting = g.one(A1, "Get-VMNetworkAdapterFailoverConfiguration", "vm1")
    assert setting["IPv4Address"] is None and setting["IPv6Address"] == "fd00:2::21"


# -- split brain -------------------------------------------------------------------------------------------


def test_unplanned_failover_while_the_primary_runs_is_a_split_brain(g: Shell) -> None:
    backend: LabBackend = g.backend
    g.protect("vm1")
    g(B1, "Start-VMFailover", "vm1")  # allowed while the primary still runs, as on a real host
    g(B1, "Start-VM", "vm1")
    assert backend.status()["split_brain"] == []  # the replica has not written yet
    g.advance(60)
    (split,) = backend.status()["split_brain"]
    assert split["name"] == "vm1" and sorted(split["hosts"]) == [A1, B1]
    assert {r["host"] for r in backend.vm_report() if r["split_brain"]} == {A1, B1}
    g(A1, "Stop-VM", "vm1", TurnOff=True)  # fencing the old primary ends it
    assert backend.status()["split_brain"] == []


def test_microsofts_failover_ip_examples_run_through_the_lab_powershell(g: Shell) -> None:
    """Examples 1-4 of Set-VMNetworkAdapterFailoverConfiguration (addresses quoted until barewords parse)."""
    from hvdr.lab.powershell import run_script

    g.protect("vm1")
    host = g.hosts[B1]

    def run(script: str) -> None:
        result = run_script(host, script, write_stdout=lambda _: None)
        assert result.exit_code == 0, result.stderr

    adapter = "Get-VMNetworkAdapter vm1 'Network Adapter' | Set-VMNetworkAdapterFailoverConfiguration"
    run(f"{adapter} -IPv4Address '10.100.1.100' -IPv4SubnetMask '255.255.255.0'")
    run(f"{adapter} -Ipv6Address 'aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaa:aaaa' -Ipv6SubnetPrefixLength 12")
    setting = g.one(B1, "Get-VMNetworkAdapterFailoverConfiguration", "vm1", VMNetworkAdapterName="Network Adapter")
    assert (setting["IPv4Address"], setting["IPv6SubnetPrefixLength"]) == ("10.100.1.100", 12)
    run(f"{adapter} -ClearFailoverIPv4Settings")
    run(f"{adapter} -ClearFailoverIPv6Settings")
    setting = g.one(B1, "Get-VMNetworkAdapterFailoverConfiguration", "vm1")
    assert (setting["IPv4Address"], setting["IPv6Address"]) == (None, None)
    run("Get-VMNetworkAdapter vm1 | Set-VMNetworkAdapter -TestReplicaSwitchName 'dr-test'")
    assert g.one(B1, "Get-VMNetworkAdapter", "vm1")["TestReplicaSwitchName"] == "dr-test"
