"""Build a :class:`LabBackend` from a topology: hosts, switches, Replica-server settings, VMM servers, VMs."""

from __future__ import annotations

import uuid

from hvdr.errors import ConfigError
from hvdr.lab.models.backend import LabBackend
from hvdr.lab.models.clock import LabClock
from hvdr.lab.models.disks import GiB, MiB, VirtualDisk
from hvdr.lab.models.enums import RecoveryAuthenticationType, VMState
from hvdr.lab.models.hosts import AuthorizationEntry, LabHost, ReplicaServer, VMSwitch
from hvdr.lab.models.vmm import LabVMMServer, VMMCloud
from hvdr.lab.models.vms import FailoverIP, NetworkAdapter, VirtualMachine, mac_for
from hvdr.lab.models.workload import KiB, TierRate, Workload
from hvdr.topology import TierWorkload, Topology

_AUTH = {
    "kerberos": RecoveryAuthenticationType.Kerberos,
    "certificate": RecoveryAuthenticationType.Certificate,
    "certificate_and_kerberos": RecoveryAuthenticationType.CertificateAndKerberos,
}


def _rate(w: TierWorkload) -> TierRate:
    return TierRate(w.write_kib_per_s * KiB, w.write_size_kib * KiB, w.hot_fraction)


def build_backend(topology: Topology, clock: LabClock | None = None, backend: LabBackend | None = None) -> LabBackend:
    """A backend holding the topology's estate (VMs as declared: power state, not replicated)."""
    lab = topology.lab
    workload = Workload({k: _rate(v) for k, v in lab.workload.items()}, _rate(lab.default_workload), lab.seed)
    if backend is None:
        backend = LabBackend(clock or LabClock(speed=lab.speed), workload)
    else:
        backend.reset()
        backend.workload = workload
    backend.transfer.bandwidth = lab.link_mib_per_s * MiB
    now = backend.now()
    for site in topology.sites:
        backend.sites.append(site.name)
    for spec in topology.hosts:
        if spec.site not in backend.sites:
            raise ConfigError(f"host {spec.fqdn}: unknown site {spec.site!r}")
        rs = spec.replica_server
        host = LabHost(
            spec.fqdn,
            spec.site,
            cloud=spec.cloud,
            logical_processors=spec.logical_processors,
            memory_bytes=spec.memory_gb * GiB,
            vm_path=spec.virtual_machine_path,
            vhd_path=spec.virtual_hard_disk_path,
            replica_storage_bytes=int(lab.replica_storage_gb * GiB),
            switches=[
                VMSwitch(s.name, s.type, uuid.uuid5(uuid.NAMESPACE_DNS, f"{s.name}.{spec.fqdn}")) for s in spec.switches
            ],
            replica_server=ReplicaServer(
                enabled=rs.enabled,
                auth=_AUTH[rs.authentication],
                kerberos_port=rs.kerberos_port,
                certificate_port=rs.certificate_port,
                certificate_thumbprint=rs.certificate_thumbprint,
                allowed_from_any_server=rs.allowed_from_any_server,
                default_storage_location=rs.default_storage_location,
                authorization_entries=[
                    AuthorizationEntry(e.allowed_primary_server, e.replica_storage_location, e.trust_group)
                    for e in rs.authorization_entries
                ],
            ),
        )
        backend.add_host(host)
    for server in topology.vmm_servers:
        vmm = LabVMMServer(server.name, server.site, server.port, id=uuid.uuid5(uuid.NAMESPACE_DNS, server.name))
        for cloud in topology.clouds:
            if cloud.site == server.site and cloud.vmm_server in (None, server.name):
                vmm.clouds.append(
                    VMMCloud(
                        cloud.name,
                        cloud.site,
                        cloud.host_group_path(),
                        uuid.uuid5(uuid.NAMESPACE_DNS, f"{cloud.name}.{server.name}"),
                    )
                )
        backend.add_vmm(vmm)
    block = lab.block_size_mib * MiB
    for spec_vm in topology.vms:
        found = backend.host(spec_vm.host)
        if found is None:
            raise ConfigError(f"vm {spec_vm.name}: unknown host {spec_vm.host!r}")
        host = found
        vm_id = uuid.UUID(spec_vm.id) if spec_vm.id else uuid.uuid5(uuid.NAMESPACE_DNS, f"{spec_vm.name}.hvdr-lab")
        disks = []
        for d in spec_vm.disks:
            disk = VirtualDisk(d.name, d.path or f"{host.vhd_path}\\{d.name}", int(d.size_gb * GiB), block)
            disk.fill(lab.used_fraction, backend.next_versions(1))
            disks.append(disk)
        vm = VirtualMachine(
            host,
            spec_vm.name,
            vm_id,
            disks,
            processor_count=spec_vm.cpu,
            memory_bytes=int(spec_vm.memory_gb * GiB),
            generation=spec_vm.generation,
            path=f"{host.vm_path}\\Virtual Machines\\{str(vm_id).upper()}",
            tier=spec_vm.tier,
            tags=spec_vm.tags,
            created=now,
            boot_s=spec_vm.boot_s,
            shutdown_s=spec_vm.shutdown_s,
        )
        for index, a in enumerate(spec_vm.network_adapters):
            if a.switch is not None and host.switch(a.switch) is None:
                raise ConfigError(f"vm {spec_vm.name}: host {host.fqdn} has no switch {a.switch!r}")
            v4, v6 = a.failover_ipv4, a.failover_ipv6
            vm.adapters.append(
                NetworkAdapter(
                    a.name,
                    mac_for(vm_id, index),
                    a.switch,
                    list(a.ip_addresses),
                    FailoverIP(
                        v4.address, v4.subnet_mask, v4.default_gateway, v4.preferred_dns_server, v4.alternate_dns_server
                    )
                    if v4
                    else None,
                    FailoverIP(
                        v6.address,
                        str(v6.prefix_length),
                        v6.default_gateway,
                        v6.preferred_dns_server,
                        v6.alternate_dns_server,
                    )
                    if v6
                    else None,
                )
            )
        if spec_vm.power_state == "running":
            vm.state = VMState.Running
            vm.started_at = vm.booted_at = now - vm.boot_s
        elif spec_vm.power_state == "saved":
            vm.state = VMState.Saved
        vm.written_until = now
        host.add_vm(vm)
    return backend
