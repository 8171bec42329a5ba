"""From the inventory to protection specs: which VMs, where their replicas go, under which policy.

A VM is protectable when its host is in a cloud that is the primary side of a cloud pairing; the pairing's
policy applies and its recovery cloud's hosts receive the replicas. Replicas are spread over the recovery
cloud's hosts in a stable order (the same VM always lands on the same host while the cloud is unchanged).
"""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from hvdr.errors import ConfigError, NotFound
from hvdr.inventory import queries
from hvdr.inventory.tables import CloudPairingRow, CloudRow, HostRow, VMRow
from hvdr.protection import Endpoint, ProtectionPolicy, ProtectionSpec, ReplicaServerSpec
from hvdr.topology import VM, TopologyHost


def _pairing(session: Session, cloud: str) -> CloudPairingRow:
    pairing = session.get(CloudPairingRow, cloud)
    if pairing is None:
        raise ConfigError(
            f"cloud {cloud!r} is not the primary cloud of any pairing: add a cloud_pairings entry for it "
            "to the topology and `hvdr apply` it"
        )
    return pairing


def vms_to_protect(session: Session, vms: list[str] | None, cloud: str | None) -> list[str]:
    """The VM names a command means: the given ones (checked), or every VM of the cloud."""
    if cloud:
        if session.get(CloudRow, cloud) is None:
            raise NotFound(
                f"unknown cloud {cloud!r}: `hvdr clouds` lists the known ones (an empty inventory needs "
                "`hvdr apply -f TOPOLOGY` first)"
            )
        _pairing(session, cloud)
        names = [r.name for r in session.exec(select(VMRow).where(VMRow.cloud == cloud).order_by(col(VMRow.name)))]
        if not names:
            raise NotFound(f"cloud {cloud!r} has no VMs in the inventory (run `hvdr discover` or declare them)")
        return names
    names = []
    for name in vms or []:
        # Hyper-V's VM names ignore case, and so does every command that names one.
        row = (
            session.get(VMRow, name)
            or session.exec(select(VMRow).where(func.lower(VMRow.name) == name.lower())).first()
        )
        if row is None:
            raise NotFound(f"unknown VM {name!r}: `hvdr vms` lists the known ones")
        names.append(row.name)
    return names


def protection_spec(session: Session, vm: str, time_scale: float = 1.0) -> ProtectionSpec:
    """Everything a protection run needs for one VM, resolved now."""
    row = session.get(VMRow, vm)
    if row is None:
        raise NotFound(f"unknown VM {vm!r}: `hvdr vms` lists the known ones")
    primary = queries.host(session, row.discovered_host or row.host)
    if primary.cloud is None:
        raise ConfigError(
            f"VM {vm!r} is on host {primary.fqdn}, which is in no cloud; only VMs of paired clouds are protected"
        )
    pairing = _pairing(session, primary.cloud)
    policy = queries.policy(session, pairing.policy)
    replica_hosts = [
        TopologyHost.model_validate(h.spec)
        for h in session.exec(
            select(HostRow).where(HostRow.cloud == pairing.recovery_cloud).order_by(col(HostRow.fqdn))
        ).all()
    ]
    if not replica_hosts:
        raise ConfigError(f"recovery cloud {pairing.recovery_cloud!r} has no hosts to receive replicas")
    # The VM's place among its cloud's VMs by name, counted (reading every sibling per VM made a cloud's specs
    # quadratic: minutes for a thousand VMs).
    index = (
        session.exec(
            select(func.count()).select_from(VMRow).where(VMRow.cloud == primary.cloud, col(VMRow.name) < vm)
        ).one()
        if row.cloud == primary.cloud
        else 0
    )
    replica = replica_hosts[index % len(replica_hosts)]
    declared = VM.model_validate(row.spec)
    excluded_disks = [d for d in declared.disks if d.excluded or d.name in policy.excluded_disk_names]
    excluded = [disk.path or disk.name for disk in excluded_disks]
    # Discovery does not learn disk sizes: only a declared VM's size is known.
    replicated = sum(int(d.size_gb * 2**30) for d in declared.disks if d not in excluded_disks)
    return ProtectionSpec(
        vm=vm,
        primary=Endpoint(site=primary.site, host=primary.fqdn),
        replica=Endpoint(site=replica.site, host=replica.fqdn),
        primary_cloud=primary.cloud,
        recovery_cloud=pairing.recovery_cloud,
        policy=ProtectionPolicy.of(policy),
        replica_server=ReplicaServerSpec.of(replica.replica_server),
        excluded_vhd_paths=excluded,
        replicated_bytes=replicated if row.source == "topology" else 0,
        time_scale=time_scale,
    )
