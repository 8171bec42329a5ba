"""From the inventory to a plan run's spec: the plan's groups, each VM's failover spec in its live direction,
the actions, and the failure semantics for the run's kind."""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session

from hvdr.errors import ConfigError, Conflict, NotFound
from hvdr.failover import ShutdownMode
from hvdr.inventory import queries
from hvdr.inventory.actions import action_spec
from hvdr.inventory.failover import failover_spec, vm_home
from hvdr.inventory.protection import protection_spec
from hvdr.inventory.tables import VMRow
from hvdr.plan import ADHOC_PLAN, GroupSpec, PlanKind, PlanSpec, failure_policy
from hvdr.protection import Endpoint
from hvdr.topology import PlanGroup, RecoveryPlan


def adhoc_plan(vms: list[str]) -> RecoveryPlan:
    """``hvdr plan run --vm a --vm b``: one group of the named VMs."""
    return RecoveryPlan(name=ADHOC_PLAN, groups=[PlanGroup(name="vms", vms=vms)])


def plan_spec(
    session: Session,
    plan: RecoveryPlan,
    directions: Mapping[str, tuple[Endpoint, Endpoint]],
    *,
    kind: PlanKind = "planned",
    dry_run: bool = False,
    shutdown: ShutdownMode = "graceful",
    rollback: bool = True,
    time_scale: float = 1.0,
    only: set[str] | None = None,
    retry_of: str | None = None,
    measured: dict[str, dict[str, float]] | None = None,
) -> PlanSpec:
    """``directions`` maps a VM's lower-cased name to (where it runs, where it replicates) — its protection
    run's live direction; a VM missing there falls back to the inventory's placement (its preflight then says
    why it cannot fail over). ``only`` keeps just these VMs (a retry)."""
    groups: list[GroupSpec] = []
    for group in plan.groups:
        specs = []
        for name in group.vms:
            row = session.get(VMRow, name) or _by_lower(session, name)
            if row is None:
                raise NotFound(f"plan {plan.name!r}: unknown VM {name!r} (`hvdr vms` lists the known ones)")
            if only is not None and row.name.lower() not in only:
                continue
            source, target = _direction(session, row.name, directions, time_scale)
            specs.append(
                failover_spec(
                    session,
                    row.name,
                    source,
                    target,
                    shutdown=shutdown,
                    rollback=rollback,
                    time_scale=time_scale,
                )
            )
        if not specs:
            continue
        groups.append(
            GroupSpec(
                name=group.name,
                vms=specs,
                before=[action_spec(session, a, group.name, "before") for a in group.pre_actions],
                after=[action_spec(session, a, group.name, "after") for a in group.post_actions],
            )
        )
    if not groups:
        raise ConfigError(f"plan {plan.name!r}: no VM to run")
    return PlanSpec(
        plan=plan.name,
        kind=kind,
        groups=groups,
        on_failure=failure_policy(plan.on_failure, kind),
        dry_run=dry_run,
        retry_of=retry_of,
        rto_target_s=plan.rto_target_s,
        time_scale=time_scale,
        measured=measured or {},
    )


def failback_selection(
    session: Session, plan: RecoveryPlan, directions: Mapping[str, tuple[Endpoint, Endpoint]]
) -> tuple[set[str], list[str]]:
    """``hvdr failback --plan``: the plan's VMs away from home (lower-cased, what :func:`plan_spec`'s ``only``
    takes) and those already home (skipped). Refused when every VM is home, or when a VM away does not replicate
    towards its home (failback needs reverse replication towards home)."""
    away: set[str] = set()
    home: list[str] = []
    for group in plan.groups:
        for name in group.vms:
            row = session.get(VMRow, name) or _by_lower(session, name)
            if row is None:
                raise NotFound(f"plan {plan.name!r}: unknown VM {name!r} (`hvdr vms` lists the known ones)")
            source, target = _direction(session, row.name, directions, 1.0)
            _, home_site = vm_home(session, row.name)
            if source.site == home_site:
                home.append(row.name)
                continue
            if target.site != home_site:
                raise Conflict(
                    f"plan {plan.name}: {row.name} runs at {source.site} and replicates to {target.site}, not its "
                    f"home site {home_site}: failback needs reverse replication towards home (`hvdr reverse`)"
                )
            away.add(row.name.lower())
    if not away:
        raise Conflict(
            f"plan {plan.name}: every VM is already home ({len(home)} VMs on their declared hosts' sites); "
            "nothing to fail back"
        )
    return away, home


def _direction(
    session: Session, vm: str, directions: Mapping[str, tuple[Endpoint, Endpoint]], time_scale: float
) -> tuple[Endpoint, Endpoint]:
    """Where the VM runs and replicates: its protection run's live direction, else the inventory's placement."""
    direction = directions.get(vm.lower())
    if direction is None:
        protection = protection_spec(session, vm, time_scale)
        direction = (protection.primary, protection.replica)
    return direction


def declared_plan(session: Session, name: str) -> RecoveryPlan:
    return queries.plan(session, name)


def _by_lower(session: Session, name: str) -> VMRow | None:
    from sqlmodel import func, select

    return session.exec(select(VMRow).where(func.lower(VMRow.name) == name.lower())).first()
