"""From the inventory to a failover spec: the mapped network and the declared failover IP of a VM.

Which host the VM runs on and where its replica is come from its protection run (the live direction, which a
failover reverses); the inventory adds what the topology declares about the networks.
"""

from __future__ import annotations

from sqlmodel import Session, select

from hvdr.errors import ConfigError, NotFound
from hvdr.failover import FailoverAddress, FailoverSpec, ShutdownMode
from hvdr.inventory.tables import HostRow, NetworkMappingRow, VMRow
from hvdr.protection import Endpoint
from hvdr.topology import VM, NetworkMapping


def failover_spec(
    session: Session,
    vm: str,
    source: Endpoint,
    target: Endpoint,
    *,
    shutdown: ShutdownMode = "graceful",
    rollback: bool = True,
    time_scale: float = 1.0,
) -> FailoverSpec:
    row = session.get(VMRow, vm)
    if row is None:
        raise NotFound(f"unknown VM {vm!r}: `hvdr vms` lists the known ones")
    declared = VM.model_validate(row.spec)
    mappings = [NetworkMapping.model_validate(r.spec) for r in session.exec(select(NetworkMappingRow)).all()]
    home = _home_site(session, declared)
    switch = next((a.switch for a in declared.network_adapters if a.switch), None)
    network: str | None = None
    failover_ip: FailoverAddress | None = None
    if switch is not None:
        outbound = [m for m in mappings if m.source_network == switch and m.target_site in (None, target.site)]
        inbound = [m for m in mappings if m.target_network == switch or m.source_site == target.site]
        if outbound and target.site != home:
            network = outbound[0].target_network
            v4 = next((a.failover_ipv4 for a in declared.network_adapters if a.failover_ipv4), None)
            if v4 is not None:
                failover_ip = FailoverAddress.model_validate(v4)
        elif target.site == home:
            network = switch  # failing back: the VM's own network at its home site
        elif inbound:
            network = inbound[0].source_network
        else:
            raise ConfigError(
                f"no network mapping for {vm}'s network {switch!r} towards {target.site}: add one to the "
                "topology's network_mappings and `hvdr apply` it"
            )
    return FailoverSpec(
        vm=vm,
        source=source,
        target=target,
        target_network=network,
        failover_ip=failover_ip,
        shutdown=shutdown,
        rollback=rollback,
        time_scale=time_scale,
    )


def vm_home(session: Session, vm: str) -> tuple[str, str | None]:
    """The host the topology declares the VM on, and that host's site: where failback returns it."""
    row = session.get(VMRow, vm)
    if row is None:
        raise NotFound(f"unknown VM {vm!r}: `hvdr vms` lists the known ones")
    declared = VM.model_validate(row.spec)
    return declared.host, _home_site(session, declared)


def _home_site(session: Session, declared: VM) -> str | None:
    """The site of the host the topology declares the VM on (its home, where failback returns it)."""
    host = session.get(HostRow, declared.host)
    return host.site if host is not None else None
