"""Where a VM runs now: a failover moves it, and the inventory follows (written by the failover run's activity).

Written by the run, not by the CLI that started it: the run is durable and the CLI may be gone (or another
operator's) by the time the VM has moved; the row is set, not toggled, so a retry writes the same thing.
"""

from __future__ import annotations

from sqlmodel import Session

from hvdr.errors import NotFound
from hvdr.inventory import queries
from hvdr.inventory.tables import VMRow


def record_placement(session: Session, vm: str, host: str) -> VMRow:
    row = session.get(VMRow, vm)
    if row is None:
        raise NotFound(f"unknown VM {vm!r}: `hvdr vms` lists the known ones")
    now = queries.host(session, host)
    row.host = now.fqdn
    row.site = now.site
    row.cloud = now.cloud
    if row.discovered_host is not None:
        row.discovered_host = now.fqdn
    session.add(row)
    session.commit()
    session.refresh(row)
    return row
