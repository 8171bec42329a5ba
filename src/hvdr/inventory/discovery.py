"""Record what discovery found: each VM's host, id, power and replication state, and its cloud.

Hyper-V Replica keeps a copy of every protected VM on a replica host under the same name, so a name can
be reported twice. The inventory tracks the machine where it runs: the Primary copy, else a copy in the
site the inventory already places it in, else a running one. Hosts found that the topology does not
declare are reported, not added: hosts (and their credentials) are declared deliberately.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session, select

from hvdr.inventory.tables import HostRow, VMRow
from hvdr.models import DiscoveredSite, DiscoveredVM
from hvdr.topology import VM, same_host


class DiscoverySummary(BaseModel):
    sites: list[str]
    vms_found: int
    vms_added: list[str] = Field(default_factory=list)
    vms_updated: list[str] = Field(default_factory=list)
    undeclared_hosts: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


def _declared(hosts: list[HostRow], name: str) -> HostRow | None:
    return next((h for h in hosts if same_host(name, h.fqdn)), None)


def _choose(copies: list[DiscoveredVM], known_site: str | None, hosts: list[HostRow]) -> DiscoveredVM:
    for copy in copies:
        if copy.replication_mode == "Primary":
            return copy
    for copy in copies:
        declared = _declared(hosts, copy.host)
        if known_site and declared is not None and declared.site == known_site:
            return copy
    for copy in copies:
        if (copy.power_state or "").lower() == "running":
            return copy
    return copies[0]


def record_discovery(session: Session, results: list[DiscoveredSite]) -> DiscoverySummary:
    """Write discovery results into the inventory (in the session's transaction)."""
    hosts = list(session.exec(select(HostRow)).all())
    summary = DiscoverySummary(sites=[r.site for r in results], vms_found=sum(len(r.vms) for r in results))
    copies: dict[str, list[DiscoveredVM]] = {}
    for result in results:
        summary.errors += result.errors
        for found_host in result.hosts:
            if _declared(hosts, found_host.name) is None:
                summary.undeclared_hosts.append(found_host.name)
        for vm in result.vms:
            copies.setdefault(vm.name, []).append(vm)
    now = datetime.now(UTC)
    for name, found in sorted(copies.items()):
        row = session.get(VMRow, name)
        chosen = _choose(found, row.site if row else None, hosts)
        host = _declared(hosts, chosen.host)
        if row is None:
            if host is None or chosen.replication_mode == "Replica":
                continue
            try:
                spec = VM(name=name, host=host.fqdn).model_dump(mode="json")
            except ValidationError as exc:
                reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
                summary.errors.append(f"VM {name!r} on {host.fqdn} not recorded: its name {reason}")
                continue
            row = VMRow(
                name=name,
                host=host.fqdn,
                site=host.site,
                cloud=host.cloud,
                source="discovery",
                spec=spec,
            )
            summary.vms_added.append(name)
        else:
            summary.vms_updated.append(name)
        row.vm_id = chosen.vm_id
        row.power_state = chosen.power_state
        row.replication_mode = chosen.replication_mode
        row.replication_state = chosen.replication_state
        row.discovered_host = host.fqdn if host else chosen.host
        row.discovered_at = now
        if host is not None:
            row.site, row.cloud = host.site, chosen.cloud or host.cloud
        session.add(row)
    return summary
