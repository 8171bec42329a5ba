"""From the inventory to protection specs: which VMs, where their replicas go, under which policy.

A VM is protectable when its host is in a cloud that is the primary side of a cloud pairing; the pairing's
policy applies and its recovery cloud's hosts receive the replicas. Replicas are spread over the recovery
cloud's hosts in a stable order (the same VM always lands on the same host while the cloud is unchanged).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, func, select

from hvdr.errors import ConfigError, NotFound
from hvdr.inventory import queries
from hvdr.inventory.tables import CloudPairingRow, CloudRow, HostRow, PolicyRow, VMRow
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
    return _spec(session, vm, time_scale, {})


def protection_specs(session: Session, vms: list[str], time_scale: float = 1.0) -> list[ProtectionSpec]:
    """The specs of many VMs (``protect --cloud``): each recovery cloud's hosts are read once, not per VM."""
    # Into the session's identity map at once, so each spec's lookups by key are served from memory.
    for table in (HostRow, CloudPairingRow, PolicyRow):
        session.exec(select(table)).all()
    for at in range(0, len(vms), 500):
        session.exec(select(VMRow).where(col(VMRow.name).in_(vms[at : at + 500]))).all()
    shared: dict[str, Any] = {}
    return [_spec(session, vm, time_scale, shared) for vm in vms]


def _replica_hosts(session: Session, cloud: str) -> list[TopologyHost]:
    return [
        TopologyHost.model_validate(h.spec)
        for h in session.exec(select(HostRow).where(HostRow.cloud == cloud).order_by(col(HostRow.fqdn))).all()
    ]


def _spec(session: Session, vm: str, time_scale: float, shared: dict[str, Any]) -> ProtectionSpec:
    """One VM's spec; ``shared`` keeps what the VMs of one cloud share (replica hosts, the cloud's VM order)."""
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
    if f"hosts/{pairing.recovery_cloud}" not in shared:
        shared[f"hosts/{pairing.recovery_cloud}"] = _replica_hosts(session, pairing.recovery_cloud)
    hosts: list[TopologyHost] = shared[f"hosts/{pairing.recovery_cloud}"]
    if not hosts:
        raise ConfigError(f"recovery cloud {pairing.recovery_cloud!r} has no hosts to receive replicas")
    # The VM's place among its cloud's VMs by name (names only, once per cloud): reading every VM row of the
    # cloud for each spec made `protect --cloud` of 1,000 VMs quadratic (over a second a VM).
    key = f"places/{primary.cloud}"
    if key not in shared:
        names = session.exec(select(VMRow.name).where(VMRow.cloud == primary.cloud).order_by(col(VMRow.name)))
        shared[key] = {name: place for place, name in enumerate(names)}
    replica = hosts[shared[key].get(vm, 0) % len(hosts)]
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
