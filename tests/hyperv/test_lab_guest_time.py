"""Time and the guest through the driver over real WinRM, at the lab's speed (600x): Stop-VM lasts the
guest's shutdown, -Prepare the final sync, the heartbeat and the failover IP (IPv4 and IPv6) come only after
boot, and a test failover's VM sits on the replica's test switch."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hvdr.hyperv import FailoverIPConfig, HyperVError, ReplicationUpdate, StopMode
from hvdr.hyperv.models import ReplicationState, VMState
from hvdr.topology import Topology, default_topology
from tests.hyperv.conftest import A1, B1, LabDrivers, start_lab
from tests.hyperv.test_lab_sequences import protect

BOOT_S, SHUTDOWN_S = 3000.0, 45.0  # a long boot: 5 real seconds at 600x, so "before boot" is observable
CONFIG = FailoverIPConfig(
    ipv4_address="10.2.0.31",
    ipv4_subnet_mask="255.255.255.0",
    ipv4_default_gateway="10.2.0.1",
    ipv4_preferred_dns="10.2.0.2",
    ipv4_alternate_dns="10.2.0.3",
    ipv6_address="fd00:2::31",
    ipv6_prefix_length=64,
    ipv6_default_gateway="fd00:2::1",
    ipv6_preferred_dns="fd00:2::2",
    ipv6_alternate_dns="fd00:2::3",
)


def _topology() -> Topology:
    data = default_topology().model_dump()
    for vm in data["vms"]:
        if vm["name"] == "web-01":
            vm.update(boot_s=BOOT_S, shutdown_s=SHUTDOWN_S)
    data["lab"]["link_mib_per_s"] = 4.0
    return Topology.model_validate(data)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabDrivers]:
    yield from start_lab(tmp_path, https=False, topology=_topology())


def test_guest_time_failover_ip_and_test_switch_over_winrm(lab: LabDrivers) -> None:
    a1, b1 = lab.host(A1), lab.host(B1)
    backend = lab.lab.backend
    protect(a1, lab, "web-01")

    # the replica's failover IP and test network, set and read back as a failover will
    b1.set_failover_ip("web-01", CONFIG)
    (setting,) = b1.get_failover_ip("web-01")
    assert setting.config == CONFIG and setting.vm_name == "web-01"
    (adapter,) = b1.set_test_switch("web-01", "vSwitch-DR-Test")
    assert adapter.test_replica_switch_name == "vSwitch-DR-Test" and adapter.switch_name is None

    # test failover: the test VM is on the test switch and gets the failover IP once booted
    assert b1.start_failover("web-01", as_test=True).test_vm_name == "web-01 - Test"
    assert b1.get_network_adapters("web-01 - Test")[0].switch_name == "vSwitch-DR-Test"
    assert b1.start_vm("web-01 - Test").state is VMState.RUNNING
    assert not b1.get_heartbeat("web-01 - Test").healthy
    assert b1.get_network_adapters("web-01 - Test")[0].ip_addresses == []
    lab.lab.advance(BOOT_S)
    assert b1.get_heartbeat("web-01 - Test").healthy
    assert b1.get_network_adapters("web-01 - Test")[0].ip_addresses == ["10.2.0.31", "fd00:2::31"]
    b1.stop_failover("web-01")

    # a hung guest: plain Stop-VM fails after Hyper-V's five minutes with the host's error, the VM still runs
    fault = backend.add_fault("hung_guest", host=A1, vm="web-01")
    sim = backend.now()
    with pytest.raises(HyperVError) as hung:  # whichever typed error the driver maps it to
        a1.stop_vm("web-01", StopMode.SHUTDOWN)
    assert backend.now() - sim >= 300 and "Failed to stop." in str(hung.value)
    assert a1.get_vm("web-01").state is VMState.RUNNING
    backend.clear_fault(fault.id)

    # Stop-VM returns when the guest has shut down, at the lab's speed. Right after a cycle, slowed to 60x,
    # so that no cycle sends the changes before -Prepare does.
    a1.set_replication("web-01", ReplicationUpdate(frequency_sec=900))
    with backend.lock:
        rel = backend.require_host(A1).vms_named("web-01")[0].replication
        assert rel is not None
        last = rel.last_replication_time
    deadline = time.monotonic() + 30
    while rel.last_replication_time == last and time.monotonic() < deadline:
        time.sleep(0.01)
    backend.clock.set_speed(60)
    sim, real = backend.now(), time.monotonic()
    assert a1.stop_vm("web-01", StopMode.SHUTDOWN).state is VMState.OFF
    assert backend.now() - sim >= SHUTDOWN_S and time.monotonic() - real >= SHUTDOWN_S / 60

    # -Prepare lasts the final sync: the unsent changes (compressed to half) over a 4 MiB/s link
    with backend.lock:
        backend.catch_up(rel.vm, backend.now())
        pending = rel.pending_bytes()
    assert pending >= SHUTDOWN_S * 16 * 1024  # the web tier writes 16 KiB/s
    sim = backend.now()
    assert a1.prepare_failover("web-01").state is ReplicationState.PREPARED_FOR_FAILOVER
    assert backend.now() - sim >= 0.2 + pending / 2 / (4 * 1024**2)
    backend.clock.set_speed(600)

    # planned failover: the new primary reports the failover IP only after it has booted
    b1.start_failover("web-01")
    b1.reverse_replication("web-01")
    assert b1.start_vm("web-01").state is VMState.RUNNING
    assert b1.get_network_adapters("web-01")[0].ip_addresses == []
    lab.lab.advance(BOOT_S)
    assert b1.get_heartbeat("web-01").healthy
    assert b1.get_network_adapters("web-01")[0].ip_addresses == ["10.2.0.31", "fd00:2::31"]
