"""A recovery plan's actions as a plan run executes them: each script host resolved to its FQDN and site."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from hvdr.actions import ActionSpec, When
from hvdr.inventory.queries import host
from hvdr.topology import PlanAction, RecoveryPlan


def action_specs(session: Session, plan: RecoveryPlan) -> list[ActionSpec]:
    """Every action of the plan in the order a run meets them (per group: before, then after)."""
    specs: list[ActionSpec] = []
    for group in plan.groups:
        declared: tuple[tuple[When, Sequence[PlanAction]], ...] = (
            ("before", group.pre_actions),
            ("after", group.post_actions),
        )
        for when, actions in declared:
            for action in actions:
                spec = ActionSpec.of(action, group.name, when)
                if action.type == "script":
                    where = host(session, action.host)
                    spec.host, spec.site = where.fqdn, where.site
                specs.append(spec)
    return specs
