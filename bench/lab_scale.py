"""How much CPU one lab process spends carrying 1,000 VMs that replicate every 30 s at speed 1.

    .venv/bin/python bench/lab_scale.py [--vms 1000] [--hosts-per-site 10] [--seconds 60] [--wire]

Builds two sites of Hyper-V hosts, 1,000 running VMs (one 20 GB disk each, 32 KiB/s of guest writes),
enables replication to the other site at 30 s with two hourly recovery points, completes initial
replication, then lets the lab run in real time (speed 1, its own ticker thread) for a measured window and
prints CPU seconds per wall second (``time.process_time``) and the delta cycles completed. ``--wire`` also
serves WinRM on one port per host (idle) as ``hvdr lab up`` does.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from hvdr.lab.models import engine, protection
from hvdr.lab.models.enums import ReplicationAuthenticationType, VMReplicationState
from hvdr.lab.models.replication import ReplicationSettings
from hvdr.lab.runner import Lab
from hvdr.topology import parse_topology


def topology(vms: int, hosts_per_site: int) -> dict[str, Any]:
    replica = {
        "enabled": True,
        "authentication": "kerberos",
        "allowed_from_any_server": True,
        "default_storage_location": "D:\\Replica",
    }
    hosts = [
        {
            "fqdn": f"hv-{site}{n}.site-{site}.bench.local",
            "site": f"site-{site}",
            "replica_server": replica,
            "switches": [{"name": "prod"}],
        }
        for site in ("a", "b")
        for n in range(1, hosts_per_site + 1)
    ]
    primaries = [h["fqdn"] for h in hosts if h["site"] == "site-a"]
    return {
        "sites": [{"name": "site-a"}, {"name": "site-b"}],
        "hosts": hosts,
        "vms": [
            {
                "name": f"vm-{i:04d}",
                "host": primaries[i % len(primaries)],
                "tier": "bench",
                "disks": [{"name": f"vm-{i:04d}.vhdx", "size_gb": 20}],
                "network_adapters": [{"switch": "prod"}],
            }
            for i in range(vms)
        ],
        "lab": {"speed": 0, "workload": {"bench": {"write_kib_per_s": 32, "write_size_kib": 64}}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--hosts-per-site", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--wire", action="store_true", help="also serve WinRM (idle) on one port per host")
    args = parser.parse_args()

    started = time.perf_counter()
    lab = Lab(parse_topology(topology(args.vms, args.hosts_per_site)), speed=0, wire=args.wire)
    backend = lab.backend
    hosts = sorted(backend.hosts.values(), key=lambda h: h.fqdn)
    targets = [h for h in hosts if h.site == "site-b"]
    with backend.lock:
        for index, vm in enumerate(backend.all_vms()):
            if vm.host.site != "site-a":
                continue
            settings = ReplicationSettings(
                replica_server=targets[index % len(targets)].fqdn,
                replica_port=80,
                auth=ReplicationAuthenticationType.Kerberos,
                frequency_sec=30,
                recovery_history=2,
            )
            rel = protection.enable(backend, vm, settings, {"frequency_sec", "recovery_history"})
            protection.start_initial_replication(backend, vm, None, None)
            del rel
    backend.advance(3600)
    replicating = [
        vm.replication
        for vm in backend.all_vms()
        if vm.replication
        and vm.replication.mode.name == "Primary"
        and vm.replication.state is VMReplicationState.Replicating
    ]
    now = backend.now()
    with backend.lock:  # spread the cycles over the 30 s period, as independent VMs would be
        for index, rel in enumerate(replicating):
            engine.schedule_cycle(backend, rel, now + 30 * index / len(replicating))
    setup = time.perf_counter() - started
    print(
        f"setup: {len(backend.all_vms())} VM copies on {len(hosts)} hosts, {len(replicating)} replicating "
        f"every 30 s ({setup:.1f} s)"
    )

    lab.start()
    backend.clock.set_speed(1)
    cycles_before = backend.cycles_completed
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    time.sleep(args.seconds)
    cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before
    cycles = backend.cycles_completed - cycles_before
    lab.stop()
    expected = len(replicating) * wall / 30
    print(f"window: {wall:.1f} s wall at speed 1, {cycles} delta cycles completed (expected ~{expected:.0f})")
    print(f"cpu: {cpu:.2f} s -> {cpu / wall:.3f} CPU seconds per wall second")


if __name__ == "__main__":
    main()
