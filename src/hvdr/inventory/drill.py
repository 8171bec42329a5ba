"""The inventory's side of drills: a plan's groups, and the runs-table line each drill leaves (kind ``drill``,
subject the plan), which :func:`hvdr.inventory.readiness.last_successful_drill` reads."""

from __future__ import annotations

from sqlmodel import Session, select

from hvdr.drill import DrillRecord
from hvdr.inventory import queries
from hvdr.inventory.readiness import DRILL_KIND
from hvdr.inventory.tables import RunRecordRow


def plan_groups(session: Session, plan: str) -> tuple[int | None, list[tuple[str, list[str]]]]:
    declared = queries.plan(session, plan)
    return declared.rto_target_s, [(g.name, list(g.vms)) for g in declared.groups]


def record_drill(session: Session, record: DrillRecord) -> None:
    """Write (or, on a retried activity, rewrite) the drill's line."""
    row = session.exec(
        select(RunRecordRow).where(RunRecordRow.kind == DRILL_KIND, RunRecordRow.workflow_id == record.workflow_id)
    ).first() or RunRecordRow(
        kind=DRILL_KIND,
        subject=record.plan,
        workflow_id=record.workflow_id,
        started_by=record.started_by,
        started_at=record.started_at,
    )
    row.subject, row.started_by = record.plan, record.started_by
    row.started_at, row.finished_at = record.started_at, record.finished_at
    row.outcome, row.detail = record.outcome, record.detail
    session.add(row)
