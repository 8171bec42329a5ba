"""A recovery plan's actions as a plan run executes them: each script host resolved to its FQDN and site."""

from __future__ import annotations

from sqlmodel import Session

from hvdr.actions import ActionSpec, When
from hvdr.inventory.queries import host
from hvdr.topology import PlanAction


def action_spec(session: Session, action: PlanAction, group: str, when: When) -> ActionSpec:
    """One declared action of a group, with a script's host resolved (FQDN, site) from the inventory."""
    spec = ActionSpec.of(action, group, when)
    if action.type == "script":
        where = host(session, action.host)
        spec.host, spec.site = where.fqdn, where.site
    return spec
