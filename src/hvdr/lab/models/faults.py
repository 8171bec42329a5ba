"""Faults injected into the lab at run time, and what each one does.

============== ====================================== =============================================================
kind           params                                 effect
============== ====================================== =============================================================
host_down      host                                   WinRM refuses connections; replication to and from the host
                                                      fails (as if it were cut off). Its VMs keep running.
crash          host                                   power loss: running VMs go Off, every primary's replica log
                                                      on the host is lost (→ resynchronization required), and the
                                                      host stays down until the fault is cleared (it rebooted).
partition      site_a, site_b                         replication between the two sites fails; WinRM still answers.
latency        host, seconds                          added to every WS-Management request (the wire applies it).
error_rate     host, rate                             that fraction of requests get HTTP 500 (the wire applies it).
cmdlet_latency host, cmdlet, seconds                  extra seconds one cmdlet takes on that host (the wire).
cmdlet_error   host, cmdlet                           that cmdlet fails on that host before it changes anything, with
                                                      the host's generic ``The operation failed.`` (OperationFailed).
storage_full   host                                   the host's replica storage is full: replication into it fails
                                                      and the relationship goes to Error; enabling to it fails.
hung_guest     host, vm                               the guest accepts a shutdown and never completes it: Stop-VM
                                                      fails after five minutes, -Force turns it off then.
slow_boot      host, vm, seconds                      every boot of that VM takes that much longer.
integration_   host, vm                               the guest's integration services stop: no heartbeat, no KVP
services_off                                          (no IP addresses, no failover IP), no shutdown service.
============== ====================================== =============================================================
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from hvdr.lab.seam import WireFaults

KINDS: dict[str, tuple[str, ...]] = {
    "host_down": ("host",),
    "crash": ("host",),
    "partition": ("site_a", "site_b"),
    "latency": ("host", "seconds"),
    "error_rate": ("host", "rate"),
    "cmdlet_latency": ("host", "cmdlet", "seconds"),
    "cmdlet_error": ("host", "cmdlet"),
    "storage_full": ("host",),
    "hung_guest": ("host", "vm"),
    "slow_boot": ("host", "vm", "seconds"),
    "integration_services_off": ("host", "vm"),
}


@dataclass
class Fault:
    id: str
    kind: str
    params: dict[str, Any]
    created: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, **self.params, "created": self.created}


@dataclass
class FaultSet:
    """The faults in force. Host names are stored as FQDNs (the backend resolves short names first)."""

    faults: dict[str, Fault] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, kind: str, params: dict[str, Any], now: float) -> Fault:
        fault = Fault(f"f{next(self._ids)}", kind, params, now)
        self.faults[fault.id] = fault
        return fault

    def remove(self, fault_id: str) -> Fault | None:
        return self.faults.pop(fault_id, None)

    def clear(self) -> list[Fault]:
        removed = list(self.faults.values())
        self.faults.clear()
        return removed

    def _of(self, kind: str) -> list[Fault]:
        return [f for f in self.faults.values() if f.kind == kind]

    def host_down(self, fqdn: str) -> bool:
        return any(f.params["host"] == fqdn for f in self._of("host_down") + self._of("crash"))

    def storage_full(self, fqdn: str) -> bool:
        return any(f.params["host"] == fqdn for f in self._of("storage_full"))

    def guest(self, fqdn: str, vm: str) -> dict[str, float]:
        """The guest faults on that VM: kind → seconds (summed for ``slow_boot``, 0 for the others)."""
        found: dict[str, float] = {}
        for fault in self.faults.values():
            if fault.params.get("host") == fqdn and str(fault.params.get("vm", "")).lower() == vm.lower():
                found[fault.kind] = found.get(fault.kind, 0.0) + float(fault.params.get("seconds", 0.0))
        return found

    def partitioned(self, site_a: str, site_b: str) -> bool:
        if site_a == site_b:
            return False
        pair = {site_a, site_b}
        return any({f.params["site_a"], f.params["site_b"]} == pair for f in self._of("partition"))

    def wire(self, fqdn: str) -> WireFaults:
        wire = WireFaults(down=self.host_down(fqdn))
        for fault in self.faults.values():
            if fault.params.get("host") != fqdn:
                continue
            if fault.kind == "latency":
                wire.latency_s += float(fault.params["seconds"])
            elif fault.kind == "error_rate":
                wire.error_rate = min(1.0, wire.error_rate + float(fault.params["rate"]))
            elif fault.kind == "cmdlet_latency":
                key = str(fault.params["cmdlet"]).lower()
                wire.cmdlet_latency_s[key] = wire.cmdlet_latency_s.get(key, 0.0) + float(fault.params["seconds"])
            elif fault.kind == "cmdlet_error":
                wire.cmdlet_errors.add(str(fault.params["cmdlet"]).lower())
        return wire
