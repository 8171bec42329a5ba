"""``hvdr plan …``: run a recovery plan (or an ad-hoc one of named VMs), retry what failed, show a run."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated

import typer

from hvdr.actions import ActionRecord
from hvdr.cli.common import OutputFormat, emit, fail, guarded, print_columns, run_async, say
from hvdr.cli.failover import _MODES, Shutdown
from hvdr.client import Client
from hvdr.durations import parse_duration
from hvdr.errors import ConfigError
from hvdr.failover import ShutdownMode
from hvdr.inventory.db import session_for
from hvdr.inventory.plan import adhoc_plan, declared_plan, plan_spec
from hvdr.plan import ADHOC_PLAN, PlanKind, PlanReport, PlanSpec
from hvdr.recovery_points import LATEST, parse_point
from hvdr.settings import load_settings
from hvdr.topology import RecoveryPlan

app = typer.Typer(help="Run recovery plans: groups in order, the VMs of a group in parallel.", no_args_is_help=True)


class Kind(enum.StrEnum):
    planned = "planned"
    unplanned = "unplanned"
    test = "test"


@dataclass(frozen=True)
class KindChoices:
    """What a plan run of kind unplanned or test is asked beyond a planned one."""

    point: str = LATEST
    force: bool = False
    auto_commit_after_s: float | None = None
    keep_s: float | None = None


@app.command()
@guarded
def run(
    name: Annotated[str | None, typer.Argument(help="The plan (`hvdr plans` lists them); omit with --vm.")] = None,
    vm: Annotated[list[str] | None, typer.Option("--vm", help="An ad-hoc plan of these VMs (repeatable).")] = None,
    kind: Annotated[Kind, typer.Option("--kind", help="planned, unplanned or test.")] = Kind.planned,
    point: Annotated[
        str | None,
        typer.Option(
            "--point",
            help="Unplanned and test: latest, latest-app-consistent, a time or a recovery point id (default latest).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Unplanned: go on where an old primary cannot be fenced (its site is lost).")
    ] = False,
    auto_commit_after: Annotated[
        str | None,
        typer.Option("--auto-commit-after", help="Unplanned: commit by itself this long after the last group (30m)."),
    ] = None,
    keep: Annotated[
        str | None,
        typer.Option("--keep", help="Test: remove the test VMs after this long (default: at `hvdr plan cleanup`)."),
    ] = None,
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
    if point is not None and kind is Kind.planned:
        fail("--point applies to unplanned and test plans only (a planned failover loses no data)", 2)
    if (force or auto_commit_after is not None) and kind is not Kind.unplanned:
        fail("--force and --auto-commit-after apply to unplanned plans only", 2)
    if keep is not None and kind is not Kind.test:
        fail("--keep applies to test plans only", 2)
    try:
        choices = KindChoices(
            point=parse_point(point) if point is not None else LATEST,
            force=force,
            auto_commit_after_s=parse_duration(auto_commit_after, "--auto-commit-after") if auto_commit_after else None,
            keep_s=parse_duration(keep, "--keep") if keep is not None else None,
        )
    except ValueError as error:
        fail(str(error), 2)
    with session_for(load_settings()) as session:
        plan = declared_plan(session, name) if name is not None else adhoc_plan(list(vm or []))
    report = run_async(_run(plan, kind.value, dry_run, _MODES[shutdown], not no_rollback, wait, choices=choices))
    _finish(report, output)


@app.command()
@guarded
def commit(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="An unplanned plan run waiting for its decision.")],
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Commit an unplanned plan run: Complete-VMFailover of every verified VM (irreversible; one that was not
    verified is reverted). `hvdr reverse --vm NAME` once the old primary is back."""
    _finish(run_async(_command(run_id, "commit")), output)


@app.command()
@guarded
def cancel(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="An unplanned plan run waiting for its decision.")],
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Cancel an unplanned plan run: Stop-VMFailover of every failed-over VM (each is a replica again); another
    recovery point can be tried with a new run."""
    _finish(run_async(_command(run_id, "cancel")), output, exit_code=False)


@app.command()
@guarded
def cleanup(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="A test plan run keeping its test VMs.")],
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """End a test plan run: remove every test VM and confirm that nothing is left on the replica hosts."""
    _finish(run_async(_command(run_id, "cleanup")), output)


async def _command(run_id: str, what: str) -> PlanReport:
    client = await Client.connect()
    command = {"commit": client.plan_commit, "cancel": client.plan_cancel, "cleanup": client.plan_cleanup}[what]
    return await command(run_id)


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
    choices: KindChoices = KindChoices(),
    failback: bool = False,
) -> PlanReport | None:
    client = await Client.connect()
    settings = client.settings
    names = [v for g in plan.groups for v in g.vms if only is None or v.lower() in only]
    directions = await client.plan_directions(names)
    measured = (
        await client.measured_step_times(plan.name, time_scale=settings.time_scale, kind=kind) if dry_run else None
    )
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
            point=choices.point,
            force=choices.force,
            auto_commit_after_s=choices.auto_commit_after_s,
            keep_s=choices.keep_s,
        )
    if failback:  # a retried failback is still a failback: its report and `hvdr plan show` say so
        spec = spec.model_copy(update={"failback": True})
    workflow_id = await client.start_plan(spec)
    say("Plan run: ", workflow_id)
    print_manual_steps(spec, workflow_id)
    if kind == "unplanned" and choices.auto_commit_after_s is None:
        say(
            "Once every group has run it waits: `hvdr plan commit ",
            workflow_id,
            "` or `hvdr plan cancel ",
            workflow_id,
            "`",
        )
    if kind == "test" and choices.keep_s is None:
        say("Its test VMs are kept until `hvdr plan cleanup ", workflow_id, "`")
    if not wait:
        return None
    return await client.plan_result(workflow_id, until_waiting=True)


async def _retry(run_id: str, wait: bool) -> PlanReport | None:
    client = await Client.connect()
    previous = await client.plan_report(run_id)
    if previous.outcome in ("running", "waiting"):
        raise ConfigError(f"{run_id} is still {previous.outcome}: retry it once it has ended")
    if previous.dry_run:
        raise ConfigError(f"{run_id} is a dry run: run the plan itself")
    failed = {v.lower() for v in previous.failed_vms()}
    if not failed:
        raise ConfigError(f"nothing to retry: every VM of {run_id} succeeded")
    with session_for(client.settings) as session:
        plan = declared_plan(session, previous.plan) if previous.plan != ADHOC_PLAN else adhoc_plan(sorted(failed))
    kind: PlanKind = "unplanned" if previous.kind == "unplanned" else "test" if previous.kind == "test" else "planned"
    choices = KindChoices(
        point=previous.point or LATEST,
        force=previous.force,
        auto_commit_after_s=previous.auto_commit_after_s,
        keep_s=previous.keep_s,
    )
    return await _run(
        plan,
        kind,
        False,
        "graceful",
        True,
        wait,
        only=failed,
        retry_of=run_id,
        choices=choices,
        failback=previous.failback,
    )


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
    if exit_code and report.outcome not in ("succeeded", "dry_run", "waiting"):
        raise typer.Exit(1)
    if exit_code and report.dry_run and report.error:
        raise typer.Exit(1)


def action_line(action: ActionRecord) -> str:
    """``action web before switch-dns: approved by ops@corp: …`` — the outcome once (its detail often starts with
    it)."""
    outcome = action.outcome.replace("_", " ")
    said = action.detail if action.detail.startswith(outcome) else f"{outcome}: {action.detail}".rstrip(": ")
    return f"action {action.group} {action.when} {action.name}: {said}"


def print_report(report: PlanReport) -> None:
    """The outcome, one row per group, one row per VM (its last step), the actions."""
    took = f" in {report.duration_s:.1f} s" if report.duration_s is not None else ""
    predicted = f"; predicted {report.predicted_s:.1f} s" if report.predicted_s is not None else ""
    what = "failback: " if report.failback else ""
    say((report.workflow_id, "bold"), ": ", what, report.outcome.replace("_", " "), took, predicted)
    if report.already_home:
        say("already home (skipped): ", ", ".join(report.already_home))
    rows = []
    for vm in report.vms:
        seconds = (vm.ended_at - vm.started_at).total_seconds() if vm.started_at and vm.ended_at else vm.predicted_s
        detail = vm.error or ""
        if report.dry_run and not vm.error:
            detail = "ready"
        moved = f"{vm.source_host} → {vm.target_host}"
        rows.append([vm.group, vm.vm, vm.outcome, moved, f"{seconds:.1f}" if seconds is not None else None, detail])
    print_columns(("group", "vm", "outcome", "from → to", "seconds", "detail"), rows)
    for action in report.actions:
        say(action_line(action))
        if action.output and not action.succeeded:  # what a failed script said last (all of it: -o json)
            for line in action.output.splitlines()[-5:]:
                say("    ", line)
    if report.error:
        say("error: ", report.error)
