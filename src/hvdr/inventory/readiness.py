"""From the inventory to a readiness check: the pairings, VMs, plans and drill results `hvdr check` compares
with what the hosts say."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, col, select

from hvdr.errors import NotFound
from hvdr.estate import DrillMark
from hvdr.inventory import queries
from hvdr.inventory.protection import protection_spec
from hvdr.inventory.tables import CloudPairingRow, CloudRow, HostRow, NetworkMappingRow, RunRecordRow, VMRow
from hvdr.protection import Endpoint, ProtectionPolicy
from hvdr.readiness import CheckRequest, DeclaredVM, MappedNetwork, PlanCheck, PlannedVMs, RecoverySide
from hvdr.topology import VM, NetworkMapping

DRILL_KIND = "drill"
DRILL_SUCCEEDED = "succeeded"


def last_successful_drill(session: Session, plan: str) -> datetime | None:
    """When the plan's last successful drill finished: the one place readiness learns of drills.

    Drill runs record themselves in the run records (``kind`` ``drill``, ``subject`` the plan, ``outcome``
    ``succeeded`` when their checks and clean-up passed); scheduled drills are what write them.
    """
    finished = session.exec(
        select(RunRecordRow.finished_at)
        .where(RunRecordRow.kind == DRILL_KIND, RunRecordRow.subject == plan, RunRecordRow.outcome == DRILL_SUCCEEDED)
        .order_by(col(RunRecordRow.finished_at).desc())
    ).first()
    if finished is None:
        return None
    return finished if finished.tzinfo else finished.replace(tzinfo=UTC)


def check_request(
    session: Session, check_id: str, *, cloud: str | None = None, site: str | None = None, certificate_days: int = 14
) -> CheckRequest:
    """What to check: every pairing (or the one of ``cloud``, or those touching ``site``) and what it holds."""
    clouds = {row.name: row.site for row in session.exec(select(CloudRow)).all()}
    if cloud is not None and cloud not in clouds:
        raise NotFound(f"unknown cloud {cloud!r}: `hvdr clouds` lists the known ones")
    if site is not None and site not in {s["name"] for s in queries.sites(session)}:
        raise NotFound(f"unknown site {site!r}: `hvdr sites` lists the known ones")
    mappings = [NetworkMapping.model_validate(r.spec) for r in session.exec(select(NetworkMappingRow)).all()]
    sides: list[RecoverySide] = []
    for pairing in session.exec(select(CloudPairingRow).order_by(col(CloudPairingRow.primary_cloud))).all():
        primary_site, recovery_site = clouds.get(pairing.primary_cloud, ""), clouds.get(pairing.recovery_cloud, "")
        if cloud is not None and cloud not in (pairing.primary_cloud, pairing.recovery_cloud):
            continue
        if site is not None and site not in (primary_site, recovery_site):
            continue
        hosts = session.exec(
            select(HostRow).where(HostRow.cloud == pairing.recovery_cloud).order_by(col(HostRow.fqdn))
        ).all()
        sides.append(
            RecoverySide(
                primary_cloud=pairing.primary_cloud,
                primary_site=primary_site,
                recovery_cloud=pairing.recovery_cloud,
                recovery_site=recovery_site,
                policy=ProtectionPolicy.of(queries.policy(session, pairing.policy)),
                hosts=[Endpoint(site=h.site, host=h.fqdn) for h in hosts],
                mappings=[
                    MappedNetwork.model_validate(m)
                    for m in mappings
                    if m.source_site in (None, primary_site) and m.target_site in (None, recovery_site)
                ],
            )
        )
    paired = {side.primary_cloud for side in sides}
    rows = session.exec(select(VMRow).order_by(col(VMRow.name))).all()
    specs = [protection_spec(session, row.name) for row in rows if row.cloud in paired]
    vm_cloud = {row.name.lower(): row.cloud for row in rows}
    plans = []
    for spec in queries.plans(session):
        plan = queries.plan(session, spec["name"])
        names = [vm for group in plan.groups for vm in group.vms]
        side = plan.primary_cloud or next((vm_cloud.get(n.lower()) for n in names if vm_cloud.get(n.lower())), None)
        if side in paired:
            plans.append(
                PlanCheck(
                    plan=PlannedVMs.model_validate(plan),
                    pairing=side,
                    last_successful_drill=last_successful_drill(session, plan.name),
                )
            )
    in_plans = {vm.lower() for p in plans for g in p.plan.groups for vm in g.vms}
    return CheckRequest(
        check_id=check_id,
        pairings=sides,
        specs=specs,
        declared_vms=[DeclaredVM.model_validate(VM.model_validate(r.spec)) for r in rows if r.name.lower() in in_plans],
        plans=plans,
        certificate_days=certificate_days,
    )


def estate_facts(session: Session, policies: dict[str, str]) -> tuple[dict[str, int], dict[str, DrillMark]]:
    """What the estate report reads of the inventory, by VM name in lower case: the RPO alert threshold of each
    VM's policy (``policies``: VM → policy name) and its last successful drill (of any plan holding it)."""
    thresholds = {}
    for vm, name in policies.items():
        try:
            thresholds[vm.lower()] = queries.policy(session, name).rpo_alert_threshold_s
        except NotFound:
            continue  # a policy renamed since the VM was protected: the chart shows no threshold line
    drills: dict[str, DrillMark] = {}
    for spec in queries.plans(session):
        finished = last_successful_drill(session, spec["name"])
        if finished is None:
            continue
        for vm in (vm for group in spec["groups"] for vm in group["vms"]):
            known = drills.get(vm.lower())
            if known is None or known.at < finished:
                drills[vm.lower()] = DrillMark(plan=spec["name"], at=finished)
    return thresholds, drills
