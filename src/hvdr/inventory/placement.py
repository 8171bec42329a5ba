"""Where a VM runs now: a failover moves it, and the inventory follows (written by the failover run's activity).

Written by the run, not by the CLI that started it: the run is durable and the CLI may be gone (or another
operator's) by the time the VM has moved; the row is set, not toggled, so a retry writes the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from hvdr.errors import NotFound
from hvdr.inventory import queries
from hvdr.inventory.tables import VMRow
from hvdr.topology import TopologyHost


def record_placement(session: Session, vm: str, host: str) -> VMRow:
    row = _place(session, vm, queries.host(session, host))
    session.commit()
    session.refresh(row)
    return row


def record_placements(session: Session, placed: Sequence[tuple[str, str]]) -> None:
    """Several VMs' hosts (vm, host) in one transaction (a recovery plan's batch); any unknown VM or host
    raises before anything is committed."""
    hosts: dict[str, TopologyHost] = {}
    for vm, host in placed:
        now = hosts.get(host.lower())
        if now is None:
            now = hosts[host.lower()] = queries.host(session, host)
        _place(session, vm, now)
    session.commit()


def _place(session: Session, vm: str, now: TopologyHost) -> VMRow:
    row = session.get(VMRow, vm)
    if row is None:
        raise NotFound(f"unknown VM {vm!r}: `hvdr vms` lists the known ones")
    row.host = now.fqdn
    row.site = now.site
    row.cloud = now.cloud
    if row.discovered_host is not None:
        row.discovered_host = now.fqdn
    session.add(row)
    return row
