"""Reads of the inventory for the CLI and for activities (resolve a host, list a cloud's VMs …)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from hvdr.errors import NotFound
from hvdr.inventory.tables import (
    CloudPairingRow,
    CloudRow,
    HostRow,
    PolicyRow,
    RecoveryPlanRow,
    SiteRow,
    VMMServerRow,
    VMRow,
)
from hvdr.topology import RecoveryPlan, ReplicationPolicy, TopologyHost, TopologyVMMServer, same_host


def sites(session: Session) -> list[dict[str, Any]]:
    rows = session.exec(select(SiteRow).order_by(col(SiteRow.name))).all()
    hosts = session.exec(select(HostRow)).all()
    vmms = session.exec(select(VMMServerRow)).all()
    return [
        {
            **row.spec,
            "hosts": sum(1 for h in hosts if h.site == row.name),
            "vmm_server": next((v.name for v in vmms if v.site == row.name), None),
        }
        for row in rows
    ]


def hosts(session: Session, site: str | None = None) -> list[dict[str, Any]]:
    query = select(HostRow).order_by(col(HostRow.fqdn))
    if site:
        query = query.where(HostRow.site == site)
    vms = session.exec(select(VMRow)).all()
    return [
        {**row.spec, "vms": sum(1 for v in vms if same_host(v.discovered_host or v.host, row.fqdn))}
        for row in session.exec(query).all()
    ]


def clouds(session: Session) -> list[dict[str, Any]]:
    pairings = session.exec(select(CloudPairingRow)).all()
    host_rows = session.exec(select(HostRow)).all()
    result = []
    for row in session.exec(select(CloudRow).order_by(col(CloudRow.name))).all():
        pairing = next((p for p in pairings if row.name in (p.primary_cloud, p.recovery_cloud)), None)
        role = None if pairing is None else ("primary" if pairing.primary_cloud == row.name else "recovery")
        partner = None if pairing is None else (pairing.recovery_cloud if role == "primary" else pairing.primary_cloud)
        result.append(
            {
                **row.spec,
                "hosts": sum(1 for h in host_rows if h.cloud == row.name),
                "role": role,
                "paired_with": partner,
                "policy": pairing.policy if pairing else None,
            }
        )
    return result


def vms(session: Session, site: str | None = None, cloud: str | None = None) -> list[dict[str, Any]]:
    query = select(VMRow).order_by(col(VMRow.name))
    if site:
        query = query.where(VMRow.site == site)
    if cloud:
        query = query.where(VMRow.cloud == cloud)
    return [
        {
            **row.spec,
            "site": row.site,
            "cloud": row.cloud,
            "source": row.source,
            "vm_id": row.vm_id,
            "power_state": row.power_state,
            "replication_mode": row.replication_mode,
            "replication_state": row.replication_state,
            "discovered_at": row.discovered_at,
        }
        for row in session.exec(query).all()
    ]


def policies(session: Session) -> list[dict[str, Any]]:
    return [row.spec for row in session.exec(select(PolicyRow).order_by(col(PolicyRow.name))).all()]


def plans(session: Session) -> list[dict[str, Any]]:
    result = []
    for row in session.exec(select(RecoveryPlanRow).order_by(col(RecoveryPlanRow.name))).all():
        spec = row.spec
        result.append(
            {
                **spec,
                "group_count": len(spec["groups"]),
                "vm_count": sum(len(g["vms"]) for g in spec["groups"]),
            }
        )
    return result


def host(session: Session, name: str) -> TopologyHost:
    """A host by FQDN or short name."""
    row = session.get(HostRow, name)
    if row is None:
        row = next((r for r in session.exec(select(HostRow)).all() if same_host(name, r.fqdn)), None)
    if row is None:
        raise NotFound(f"unknown host {name!r}: apply a topology that declares it (`hvdr hosts` lists the known ones)")
    return TopologyHost.model_validate(row.spec)


def vmm_server(session: Session, site: str) -> TopologyVMMServer | None:
    row = session.exec(select(VMMServerRow).where(VMMServerRow.site == site)).first()
    return TopologyVMMServer.model_validate(row.spec) if row else None


def site_hosts(session: Session, site: str) -> list[TopologyHost]:
    rows = session.exec(select(HostRow).where(HostRow.site == site).order_by(col(HostRow.fqdn))).all()
    return [TopologyHost.model_validate(r.spec) for r in rows]


def policy(session: Session, name: str) -> ReplicationPolicy:
    row = session.get(PolicyRow, name)
    if row is None:
        raise NotFound(f"unknown policy {name!r}")
    return ReplicationPolicy.model_validate(row.spec)


def plan(session: Session, name: str) -> RecoveryPlan:
    row = session.get(RecoveryPlanRow, name)
    if row is None:
        raise NotFound(f"unknown recovery plan {name!r} (`hvdr plans` lists them)")
    return RecoveryPlan.model_validate(row.spec)


def rto_target(session: Session, plan_name: str | None, vms: list[str]) -> tuple[int, str] | None:
    """The RTO target a run is measured against, with where it comes from: its plan's ``rto_target_s``, else (a
    single-VM run) that of the first plan, by name, that holds one of its VMs and declares a target."""
    if plan_name is not None:
        declared = plan(session, plan_name)
        return None if declared.rto_target_s is None else (declared.rto_target_s, f"plan {declared.name}")
    wanted = {vm.lower() for vm in vms}
    for row in session.exec(select(RecoveryPlanRow).order_by(col(RecoveryPlanRow.name))).all():
        candidate = RecoveryPlan.model_validate(row.spec)
        held = any(vm.lower() in wanted for group in candidate.groups for vm in group.vms)
        if held and candidate.rto_target_s is not None:
            return candidate.rto_target_s, f"plan {candidate.name}, which holds {', '.join(sorted(wanted))}"
    return None
