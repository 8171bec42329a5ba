"""The lab's cmdlets: bindings from an :class:`~hvdr.lab.seam.Invocation` to the models, one module per noun
group, and the :class:`~hvdr.lab.seam.PSHost` objects the wire serves (one per Hyper-V host and VMM server)."""

from __future__ import annotations

from hvdr.lab.cmdlets import failover, replication, system, vm
from hvdr.lab.cmdlets.base import HYPERV, LabPSHost
from hvdr.lab.cmdlets.vmm import VMM
from hvdr.lab.models.backend import LabBackend

del failover, replication, system, vm  # imported for their registrations


def ps_hosts(backend: LabBackend) -> dict[str, LabPSHost]:
    """Every host the wire should serve, keyed by FQDN: Hyper-V hosts, then VMM servers."""
    hosts: dict[str, LabPSHost] = {}
    for host in backend.hosts.values():
        hosts[host.fqdn] = LabPSHost(backend, host.fqdn, HYPERV)
    for server in backend.vmm_servers.values():
        hosts[server.fqdn] = LabPSHost(backend, server.fqdn, VMM, kind="vmm")
    return hosts


__all__ = ["HYPERV", "VMM", "LabPSHost", "ps_hosts"]
