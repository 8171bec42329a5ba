"""``hvdr drill …``: scheduled drills of recovery plans on Temporal Schedules (one schedule ``drill/<plan>`` per
plan; each occurrence a ``Drill`` run that test-fails the plan over and leaves its evidence report)."""

from __future__ import annotations

from typing import Annotated

import typer

from hvdr.cli.common import OutputFormat, emit, guarded, run_async, say
from hvdr.client import Client
from hvdr.drill import DrillReport, DrillSchedule

app = typer.Typer(
    help="Scheduled drills: a test failover of a recovery plan on a cron schedule, verified and cleaned up, "
    "leaving an evidence report (`hvdr report`) and the last successful drill that `hvdr check` reads.",
    no_args_is_help=True,
)

Plan = Annotated[str, typer.Option("--plan", help="A recovery plan (`hvdr plans` lists them).")]
Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]
COLUMNS = ("plan", "schedule_id", "cron", "paused", "next_runs", "recent_runs", "note")


def _show(schedules: list[DrillSchedule] | DrillSchedule, output: OutputFormat) -> None:
    emit(schedules, COLUMNS, output)


@app.command()
@guarded
def schedule(
    plan: Plan,
    cron: Annotated[str, typer.Option("--cron", help='When, in UTC: minute hour day month weekday, e.g. "0 3 * * 6".')],
    output: Output = OutputFormat.table,
) -> None:
    """Schedule drills of a plan (schedule id drill/<plan>; overlapping drills are skipped)."""

    async def create() -> DrillSchedule:
        return await (await Client.connect()).drill_schedule(plan, cron)

    _show(run_async(create()), output)


@app.command("list")
@guarded
def list_(output: Output = OutputFormat.table) -> None:
    """Every plan's drill schedule: cron, paused, next runs, the drills it started lately."""

    async def listed() -> list[DrillSchedule]:
        return await (await Client.connect()).drill_schedules()

    _show(run_async(listed()), output)


@app.command()
@guarded
def pause(plan: Plan, output: Output = OutputFormat.table) -> None:
    """Pause a plan's drill schedule (nothing fires until `hvdr drill resume`)."""

    async def paused() -> DrillSchedule:
        return await (await Client.connect()).drill_pause(plan)

    _show(run_async(paused()), output)


@app.command()
@guarded
def resume(plan: Plan, output: Output = OutputFormat.table) -> None:
    """Resume a paused drill schedule."""

    async def resumed() -> DrillSchedule:
        return await (await Client.connect()).drill_resume(plan)

    _show(run_async(resumed()), output)


@app.command()
@guarded
def delete(plan: Plan) -> None:
    """Delete a plan's drill schedule (drills already run keep their reports)."""

    async def deleted() -> str:
        return await (await Client.connect()).drill_delete(plan)

    say("deleted ", run_async(deleted()))


@app.command()
@guarded
def trigger(
    plan: Plan,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the drill and print its evidence.")] = False,
    output: Output = OutputFormat.table,
) -> None:
    """Run the plan's scheduled drill now; prints its run id (with --wait, its evidence; exit 1 if it failed)."""

    async def triggered() -> tuple[str, DrillReport | None]:
        client = await Client.connect()
        workflow_id = await client.drill_trigger(plan)
        return workflow_id, (await client.drill_result(workflow_id) if wait else None)

    workflow_id, report = run_async(triggered())
    say("drill started: ", workflow_id, " (`hvdr report ", workflow_id, "`)")
    if report is None:
        return
    rows = [
        {
            "vm": v.vm,
            "group": v.group,
            "outcome": v.outcome,
            "rto_s": None if v.rto_s is None else round(v.rto_s),
            "rto_target_s": report.rto_target_s,
            "rpo_at_drill_s": None if v.rpo_at_drill_s is None else round(v.rpo_at_drill_s),
            "checks_passed": v.checks_passed,
            "cleaned_up": v.cleaned_up,
            "production_rpo_unaffected": v.rpo_unaffected,
            "error": v.error,
        }
        for v in report.vms
    ]
    emit(rows, list(rows[0]) if rows else ["vm"], output, title=f"drill of {report.plan}: {report.outcome}")
    if report.outcome != "succeeded":
        raise typer.Exit(1)
