"""Fixtures for the lab's model and cmdlet tests: a frozen-clock estate and a shell that runs cmdlets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hvdr.lab.cmdlets import ps_hosts
from hvdr.lab.models.backend import LabBackend
from hvdr.lab.models.build import build_backend
from hvdr.lab.models.clock import LabClock
from hvdr.lab.models.replication import Relationship
from hvdr.lab.models.vms import VirtualMachine
from hvdr.lab.seam import Invocation, PSError
from hvdr.topology import Topology, default_topology, parse_topology

A1, A2, B1, B2 = (f"hv-{h}.site-{h[0]}.lab.local" for h in ("a1", "a2", "b1", "b2"))


class Shell:
    """Runs cmdlets on the lab's hosts as the wire would, and reads the models."""

    def __init__(self, backend: LabBackend) -> None:
        self.backend = backend
        self.hosts = ps_hosts(backend)

    def __call__(
        self, host: str, cmdlet: str, *positional: Any, pipe: list[Any] | None = None, **named: Any
    ) -> list[Any]:
        fn = self.hosts[host].cmdlet(cmdlet)
        assert fn is not None, f"{host} has no {cmdlet}"
        return fn(Invocation(cmdlet, list(named.items()), list(positional), list(pipe or [])))

    def fails(self, host: str, cmdlet: str, *positional: Any, pipe: list[Any] | None = None, **named: Any) -> PSError:
        with pytest.raises(PSError) as info:
            self(host, cmdlet, *positional, pipe=pipe, **named)
        return info.value

    def one(self, host: str, cmdlet: str, *positional: Any, **named: Any) -> dict[str, Any]:
        result = self(host, cmdlet, *positional, **named)
        assert len(result) == 1, result
        return dict(result[0].ps_properties())

    def vm(self, host: str, name: str) -> VirtualMachine:
        found = self.backend.require_host(host).vms_named(name)
        assert len(found) == 1, found
        return found[0]

    def rel(self, host: str, name: str) -> Relationship:
        rel = self.vm(host, name).replication
        assert rel is not None
        return rel

    def state(self, host: str, name: str) -> str:
        return self.rel(host, name).state.name

    def checksum(self, host: str, name: str) -> str:
        vm = self.vm(host, name)
        self.backend.catch_up(vm, self.backend.now())
        return vm.checksum()

    def advance(self, seconds: float) -> None:
        self.backend.advance(seconds)

    def to_next_cycle(self, host: str, name: str) -> float:
        """Advance to exactly the primary's next cycle; returns that moment."""
        at = self.rel(host, name).next_cycle_at
        assert at is not None
        self.backend.advance(at - self.backend.now())
        return at

    def enable(self, name: str, source: str = A1, target: str = B1, **settings: Any) -> None:
        self(source, "Enable-VMReplication", name, target, 80, "Kerberos", **settings)

    def protect(self, name: str, source: str = A1, target: str = B1, **settings: Any) -> None:
        """Enable, replicate initially over the network, and wait until both sides replicate."""
        self.enable(name, source, target, **settings)
        self(source, "Start-VMInitialReplication", VMName=name)
        for _ in range(100):
            if self.state(source, name) == "Replicating":
                return
            self.advance(60)
        raise AssertionError(f"{name} never finished initial replication: {self.state(source, name)}")


def make_backend(topology: Topology | None = None) -> LabBackend:
    return build_backend(topology or default_topology(), LabClock(speed=0))


@pytest.fixture
def backend() -> LabBackend:
    return make_backend()


@pytest.fixture
def sh(backend: LabBackend) -> Shell:
    return Shell(backend)


def small_topology(write_kib_per_s: float = 64, disk_gb: float = 1, **policy: Any) -> Topology:
    """Two hosts on two sites, one small VM ("vm1" on hv-a1) with a fast writer; for log-size tests."""
    replica = {
        "enabled": True,
        "authentication": "kerberos",
        "allowed_from_any_server": True,
        "default_storage_location": "D:\\Replica",
    }
    return parse_topology(
        {
            "sites": [{"name": "site-a"}, {"name": "site-b"}],
            "hosts": [
                {"fqdn": A1, "site": "site-a", "replica_server": replica, "switches": [{"name": "prod"}]},
                {"fqdn": B1, "site": "site-b", "replica_server": replica, "switches": [{"name": "dr"}]},
            ],
            "vms": [
                {
                    "name": "vm1",
                    "host": A1,
                    "tier": "t",
                    "disks": [{"name": "vm1.vhdx", "size_gb": disk_gb}],
                    "network_adapters": [{"switch": "prod"}],
                }
            ],
            "lab": {
                "workload": {"t": {"write_kib_per_s": write_kib_per_s, "write_size_kib": 64, "hot_fraction": 1.0}},
                "block_size_mib": 1,
            },
        }
    )


@pytest.fixture
def small() -> Callable[..., Shell]:
    def make(**kwargs: Any) -> Shell:
        return Shell(make_backend(small_topology(**kwargs)))

    return make
