"""``hvdr apply``: make the inventory equal to a validated topology, and say exactly what changed.

The topology is the desired state of every declared object: missing ones are created, different ones
updated, ones no longer declared deleted. VMs that discovery found and no file declares are left alone.
Everything happens in one transaction; applying the same file twice changes nothing the second time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, SQLModel, select

from hvdr.inventory.tables import (
    CloudPairingRow,
    CloudRow,
    HostRow,
    NetworkMappingRow,
    PolicyRow,
    RecoveryPlanRow,
    SiteRow,
    VMMServerRow,
    VMRow,
)
from hvdr.topology import Topology


@dataclass(frozen=True)
class Kind:
    """One kind of declared object: its section in the file, its table and its key column."""

    section: str
    table: type[SQLModel]
    key: str
    label: str


KINDS: tuple[Kind, ...] = (
    Kind("sites", SiteRow, "name", "site"),
    Kind("vmm_servers", VMMServerRow, "name", "VMM server"),
    Kind("clouds", CloudRow, "name", "cloud"),
    Kind("hosts", HostRow, "fqdn", "host"),
    Kind("policies", PolicyRow, "name", "policy"),
    Kind("cloud_pairings", CloudPairingRow, "primary_cloud", "cloud pairing"),
    Kind("network_mappings", NetworkMappingRow, "key", "network mapping"),
    Kind("vms", VMRow, "name", "VM"),
    Kind("recovery_plans", RecoveryPlanRow, "name", "recovery plan"),
)


@dataclass
class Change:
    action: str  # create | update | delete
    kind: str
    key: str
    fields: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        detail = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{sign} {self.kind} {self.key}{detail}"


def spec_of(model: BaseModel) -> dict[str, Any]:
    """An object's canonical stored form."""
    return model.model_dump(mode="json")


def _key(kind: Kind, model: BaseModel) -> str:
    if kind.section == "network_mappings":
        # Structured, so no two mappings share a key: "a/x" + "n1" and "a" + "x/n1" once did, and one vanished.
        return json.dumps([getattr(model, "source_site", None), getattr(model, "source_network", None)])
    return str(getattr(model, kind.key))


def _shown(kind: Kind, key: str) -> str:
    """A key as a change line shows it."""
    if kind.section != "network_mappings":
        return key
    try:
        site, network = json.loads(key)
    except (ValueError, TypeError):
        return key  # a row stored before keys were structured: replaced by the next apply
    return f"{network!r} of site {site!r}" if site else f"{network!r} of any site"


def _columns(kind: Kind, model: Any, topology: Topology) -> dict[str, Any]:
    """The key columns a row carries besides its spec."""
    if kind.section in ("vmm_servers", "clouds"):
        return {"site": model.site}
    if kind.section == "hosts":
        return {"site": model.site, "cloud": model.cloud}
    if kind.section == "cloud_pairings":
        return {"recovery_cloud": model.recovery_cloud, "policy": model.policy}
    if kind.section == "vms":
        host = topology.host(model.host)
        return {
            "host": host.fqdn if host else model.host,
            "site": host and host.site,
            "cloud": host and host.cloud,
        }
    return {}


def desired_state(topology: Topology) -> dict[str, dict[str, tuple[dict[str, Any], dict[str, Any]]]]:
    """Per section: key → (spec, key columns)."""
    state: dict[str, dict[str, tuple[dict[str, Any], dict[str, Any]]]] = {}
    for kind in KINDS:
        items: list[BaseModel] = getattr(topology, kind.section)
        state[kind.section] = {_key(kind, m): (spec_of(m), _columns(kind, m, topology)) for m in items}
    return state


def plan_changes(session: Session, topology: Topology) -> list[Change]:
    """What applying the topology would change, without changing anything."""
    return _diff(session, topology, write=False)


def apply_topology(session: Session, topology: Topology) -> list[Change]:
    """Apply the topology in the session's transaction; returns the changes made."""
    return _diff(session, topology, write=True)


def _diff(session: Session, topology: Topology, *, write: bool) -> list[Change]:
    desired = desired_state(topology)
    changes: list[Change] = []
    for kind in KINDS:
        rows = {str(getattr(row, kind.key)): row for row in session.exec(select(kind.table)).all()}
        wanted = desired[kind.section]
        for key, (spec, columns) in wanted.items():
            row = rows.get(key)
            if row is None:
                changes.append(Change("create", kind.label, _shown(kind, key)))
                if write:
                    session.add(kind.table(**{kind.key: key, "spec": spec, **columns}))
                continue
            old: dict[str, Any] = row.spec  # type: ignore[attr-defined]
            differing = sorted(k for k in spec.keys() | old.keys() if spec.get(k) != old.get(k))
            if differing:
                changes.append(Change("update", kind.label, _shown(kind, key), differing))
            if write and (differing or (isinstance(row, VMRow) and row.source != "topology")):
                row.spec = spec
                for column, value in columns.items():
                    setattr(row, column, value)
                if isinstance(row, VMRow):
                    row.source = "topology"
                session.add(row)
        for key, row in rows.items():
            if key in wanted or (isinstance(row, VMRow) and row.source != "topology"):
                continue
            changes.append(Change("delete", kind.label, _shown(kind, key)))
            if write:
                session.delete(row)
    if write:
        session.flush()
    return changes
