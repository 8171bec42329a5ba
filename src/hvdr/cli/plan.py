"""``hvdr plan …``: run a recovery plan (or an ad-hoc one of named VMs), retry what failed, show a run."""

from __future__ import annotations

import enum
from typing import Annotated

import typer
from rich.table import Table

from hvdr.cli.common import OutputFormat, cell, console, emit, fail, guarded, run_async, say
from hvdr.cli.failover import _MODES, Shutdown
from hvdr.client import Client
from hvdr.errors import ConfigError
from hvdr.failover import ShutdownMode
from hvdr.inventory.db import session_for
from hvdr.inventory.plan import adhoc_plan, declared_plan, plan_spec
from hvdr.plan import ADHOC_PLAN, PlanKind, PlanReport, PlanSpec
from hvdr.settings import load_settings
from hvdr.topology import RecoveryPlan

app = typer.Typer(help="Run recovery plans: groups in order, the VMs of a group in parallel.", no_args_is_help=True)


class Kind(enum.StrEnum):
    planned = "planned"
    unplanned = "unplanned"
    test = "test"


BUILT: tuple[PlanKind, ...] = ("planned",)
"""The kinds a plan runs so far (the single-VM test and unplanned failovers are not wired into plans yet)."""


@app.command()
@guarded
def run(
    name: Annotated[str | None, typer.Argument(help="The plan (`hvdr plans` lists them); omit with --vm.")] = None,
    vm: Annotated[list[str] | None, typer.Option("--vm", help="An ad-hoc plan of these VMs (repeatable).")] = None,
    kind: Annotated[Kind, typer.Option("--kind", help="planned, unplanned or test.")] = Kind.planned,
    point: Annotated[str | None, typer.Option("--point", help="Recovery point (unplanned and test).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read only: every step, why it would fail, the predicted time.")
    ] = False,
    shutdown: Annotated[
        Shutdown, typer.Option("--shutdown", help="graceful, force or turn-off (as `hvdr failover planned`).")
    ] = Shutdown.graceful,
    no_rollback: Annotated[bool, typer.Option("--no-rollback", help="A failed VM is left as it is.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the run and print its report.")] = True,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Run a recovery plan: its groups in order, the VMs of a group in parallel, each through the failover
    of --kind with everything it guarantees. One run, id plan/<plan>/<n>. Exit 1 unless every VM moved."""
    if (name is None) == (not vm):
        fail("name a plan, or the VMs of an ad-hoc plan with --vm NAME (repeatable), not both", 2)
    if kind.value not in BUILT:
        fail(
            f"plans run planned failover only so far: use `hvdr failover {kind.value} --vm …` per VM for a "
            f"{kind.value} failover",
            2,
        )
    if point is not None:
        fail("--point applies to unplanned and test plans only", 2)
    with session_for(load_settings()) as session:
        plan = declared_plan(session, name) if name is not None else adhoc_plan(list(vm or []))
    report = run_async(_run(plan, kind.value, dry_run, _MODES[shutdown], not no_rollback, wait))
    _finish(report, output)


@app.command()
@guarded
def retry(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A finished plan run, e.g. plan/three-tier/1.")],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the run and print its report.")] = True,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Run again only what failed (or never ran) in RUN, as a new run of the same plan and kind."""
    report = run_async(_retry(run_id, wait))
    _finish(report, output)


@app.command()
@guarded
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A plan run, e.g. plan/three-tier/1.")],
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """A plan run's report: groups, every VM's outcome and steps, actions; so far or final."""

    async def shown() -> PlanReport:
        client = await Client.connect()
        return await client.plan_report(run_id)

    _finish(run_async(shown()), output, exit_code=False)


async def _run(
    plan: RecoveryPlan,
    kind: PlanKind,
    dry_run: bool,
    shutdown: ShutdownMode,
    rollback: bool,
    wait: bool,
    only: set[str] | None = None,
    retry_of: str | None = None,
) -> PlanReport | None:
    client = await Client.connect()
    settings = client.settings
    names = [v for g in plan.groups for v in g.vms if only is None or v.lower() in only]
    directions = await client.plan_directions(names)
    measured = await client.measured_step_times(plan.name, time_scale=settings.time_scale) if dry_run else None
    with session_for(settings) as session:
        spec: PlanSpec = plan_spec(
            session,
            plan,
            directions,
            kind=kind,
            dry_run=dry_run,
            shutdown=shutdown,
            rollback=rollback,
            time_scale=settings.time_scale,
            only=only,
            retry_of=retry_of,
            measured=measured,
        )
    workflow_id = await client.start_plan(spec)
    say("Plan run: ", workflow_id)
    print_manual_steps(spec, workflow_id)
    if not wait:
        return None
    return await client.plan_result(workflow_id)


async def _retry(run_id: str, wait: bool) -> PlanReport | None:
    client = await Client.connect()
    previous = await client.plan_report(run_id)
    if previous.outcome == "running":
        raise ConfigError(f"{run_id} is still running: retry it once it has ended")
    if previous.dry_run:
        raise ConfigError(f"{run_id} is a dry run: run the plan itself")
    failed = {v.lower() for v in previous.failed_vms()}
    if not failed:
        raise ConfigError(f"nothing to retry: every VM of {run_id} succeeded")
    with session_for(client.settings) as session:
        plan = declared_plan(session, previous.plan) if previous.plan != ADHOC_PLAN else adhoc_plan(sorted(failed))
    kind: PlanKind = "unplanned" if previous.kind == "unplanned" else "test" if previous.kind == "test" else "planned"
    return await _run(plan, kind, False, "graceful", True, wait, only=failed, retry_of=run_id)


def print_manual_steps(spec: PlanSpec, workflow_id: str) -> None:
    """Which manual steps the run will wait for, and how to decide them."""
    manual = [a.name for g in spec.groups for a in (*g.before, *g.after) if a.type == "manual" and not spec.dry_run]
    if manual:
        say(
            "It waits for the manual step(s) ",
            ", ".join(manual),
            f": when it asks, `hvdr approve {workflow_id} STEP` (or `hvdr reject {workflow_id} STEP --reason …`)",
        )


def _finish(report: PlanReport | None, output: OutputFormat, *, exit_code: bool = True) -> None:
    if report is None:
        return
    if output is not OutputFormat.table:
        emit(report, [], output)
    else:
        print_report(report)
    if exit_code and report.outcome not in ("succeeded", "dry_run"):
        raise typer.Exit(1)
    if exit_code and report.dry_run and report.error:
        raise typer.Exit(1)


def print_report(report: PlanReport) -> None:
    """The outcome, one row per group, one row per VM (its last step), the actions."""
    took = f" in {report.duration_s:.1f} s" if report.duration_s is not None else ""
    predicted = f"; predicted {report.predicted_s:.1f} s" if report.predicted_s is not None else ""
    what = "failback: " if report.failback else ""
    say((report.workflow_id, "bold"), ": ", what, report.outcome.replace("_", " "), took, predicted)
    if report.already_home:
        say("already home (skipped): ", ", ".join(report.already_home))
    table = Table()
    for column in ("group", "vm", "outcome", "from → to", "seconds", "detail"):
        table.add_column(column)
    for vm in report.vms:
        seconds = (vm.ended_at - vm.started_at).total_seconds() if vm.started_at and vm.ended_at else vm.predicted_s
        detail = vm.error or ""
        if report.dry_run and not vm.error:
            detail = "ready"
        table.add_row(
            cell(vm.group),
            cell(vm.vm),
            cell(vm.outcome),
            cell(f"{vm.source_host} → {vm.target_host}"),
            cell(f"{seconds:.1f}" if seconds is not None else None),
            cell(detail),
        )
    console.print(table)
    for action in report.actions:
        say("action ", action.group, " ", action.when, " ", action.name, ": ", action.outcome, " ", action.detail)
        if action.output and not action.succeeded:  # what a failed script said last (all of it: -o json)
            for line in action.output.splitlines()[-5:]:
                say("    ", line)
    if report.error:
        say("error: ", report.error)
