"""``hvdr failover …``: move protected VMs to their replica hosts, one durable run per VM (failover/<vm>)."""

from __future__ import annotations

import asyncio
import enum
from typing import Annotated

import typer

from hvdr.cli.common import OutputFormat, emit, fail, guarded, run_async, say
from hvdr.cli.testfailover import app as test_app
from hvdr.cli.testfailover import print_steps, print_test_report
from hvdr.client import Client
from hvdr.failover import FailoverReport, ShutdownMode
from hvdr.inventory.db import session_for
from hvdr.inventory.plan import declared_plan
from hvdr.inventory.protection import vms_to_protect
from hvdr.models import RunSummary
from hvdr.plan import PlanReport
from hvdr.settings import load_settings
from hvdr.testfailover import TestFailoverReport
from hvdr.unplanned import UnplannedReport
from hvdr.visibility import KINDS, check_kind

app = typer.Typer(help="Fail protected VMs over to their replica hosts.", no_args_is_help=True)
app.add_typer(test_app, name="test")


class Shutdown(enum.StrEnum):
    graceful = "graceful"
    force = "force"
    turn_off = "turn-off"


_MODES: dict[Shutdown, ShutdownMode] = {
    Shutdown.graceful: "graceful",
    Shutdown.force: "force",
    Shutdown.turn_off: "turn_off",
}


_SHUTDOWN_HELP = (
    "graceful: the guest shuts down (fails after Hyper-V's 5 minutes); force: then turned off; "
    "turn-off: power off at once."
)
_FORCE_HELP = (
    "Proceed although replication's health is Critical, when the last replication is at most an hour old "
    "(never for a VM that is not protected or not replicating)."
)
VMs = Annotated[list[str] | None, typer.Option("--vm", help="A protected VM (repeatable).")]
ShutdownOption = Annotated[Shutdown, typer.Option("--shutdown", help=_SHUTDOWN_HELP)]
NoRollback = Annotated[
    bool, typer.Option("--no-rollback", help="Leave everything as it is when a step fails (no compensation).")
]
Force = Annotated[bool, typer.Option("--force", help=_FORCE_HELP)]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the runs and print their reports.")]
Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]


@app.command()
@guarded
def planned(
    vm: VMs = None,
    shutdown: ShutdownOption = Shutdown.graceful,
    no_rollback: NoRollback = False,
    force: Force = False,
    wait: Wait = True,
    output: Output = OutputFormat.table,
) -> None:
    """Planned failover, zero data loss: preflight → guest shutdown → prepare (final sync) → fail over on the
    replica → connect the mapped network → start → verify → reverse replication. A failed step after the
    shutdown is undone in reverse order and the source runs again (unless --no-rollback)."""
    _move(vm, back=False, shutdown=shutdown, rollback=not no_rollback, force=force, wait=wait, output=output)


@guarded
def failback(
    vm: VMs = None,
    plan: Annotated[
        str | None, typer.Option("--plan", help="A recovery plan (`hvdr plans`): its VMs back home, group by group.")
    ] = None,
    shutdown: ShutdownOption = Shutdown.graceful,
    no_rollback: NoRollback = False,
    force: Force = False,
    wait: Wait = True,
    output: Output = OutputFormat.table,
) -> None:
    """Return failed-over VMs to their home site (where the topology declares them): a planned failover back,
    zero data loss, then reverse replication so protection runs in the original direction. One run per VM
    (failback/<vm>); refused for a VM that is already home. With --plan, one plan run (plan/<plan>/<n>): the
    plan's groups in order, its VMs already home skipped; refused when every VM is home."""
    if plan is not None:
        if vm:
            fail("name a plan (--plan) or VMs (--vm), not both", 2)
        if force:
            fail("--force applies to --vm only: a plan fails back replicating VMs", 2)
        _plan_back(plan, _MODES[shutdown], not no_rollback, wait, output)
        return
    _move(vm, back=True, shutdown=shutdown, rollback=not no_rollback, force=force, wait=wait, output=output)


def _move(
    vm: list[str] | None,
    *,
    back: bool,
    shutdown: Shutdown,
    rollback: bool,
    force: bool,
    wait: bool,
    output: OutputFormat,
) -> None:
    if not vm:
        fail(f"name the VMs to {'fail back' if back else 'fail over'}: --vm NAME (repeatable)", 2)
    settings = load_settings()
    with session_for(settings) as session:
        names = vms_to_protect(session, vm, None)
    reports = run_async(_start(names, back, _MODES[shutdown], rollback, force, wait))
    if not wait:
        return
    if output is not OutputFormat.table:
        emit(reports, [], output)
    else:
        for report in reports:
            print_report(report)
    if any(r.outcome != "succeeded" for r in reports):
        raise typer.Exit(1)


def _plan_back(plan: str, shutdown: ShutdownMode, rollback: bool, wait: bool, output: OutputFormat) -> None:
    from hvdr.cli.plan import print_manual_steps
    from hvdr.cli.plan import print_report as print_plan

    with session_for(load_settings()) as session:
        plan = declared_plan(session, plan).name  # an unknown plan is refused before Temporal is asked

    async def back() -> PlanReport | None:
        client = await Client.connect()
        spec = await client.failback_plan_spec(plan, shutdown=shutdown, rollback=rollback)
        workflow_id = await client.start_plan(spec)
        say("Failback run: ", workflow_id)
        if spec.already_home:
            say("already home (skipped): ", ", ".join(spec.already_home))
        print_manual_steps(spec, workflow_id)
        return await client.plan_result(workflow_id) if wait else None

    report = run_async(back())
    if report is None:
        return
    if output is not OutputFormat.table:
        emit(report, [], output)
    else:
        print_plan(report)
    if report.outcome != "succeeded":
        raise typer.Exit(1)


async def _start(
    names: list[str], back: bool, shutdown: ShutdownMode, rollback: bool, force: bool, wait: bool
) -> list[FailoverReport]:
    client = await Client.connect()
    # Every VM is checked before any run starts: one refused VM changes nothing for the others.
    specs = [
        await client.failover_spec(name, back=back, shutdown=shutdown, rollback=rollback, force=force) for name in names
    ]
    ids = [await client.start_planned_failover(spec) for spec in specs]
    say("Failback runs: " if back else "Failover runs: ", ", ".join(ids))
    if not wait:
        return []
    results = await asyncio.gather(*(client.failover_result(i) for i in ids), return_exceptions=True)
    reports = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        reports.append(result)
    return reports


def print_report(report: FailoverReport) -> None:
    """A failover report: the outcome, then one row per step, then what was undone and why."""
    say(
        (report.workflow_id, "bold"),
        ": ",
        report.outcome.replace("_", " "),
        " — ",
        report.vm,
        " runs on ",
        report.now_runs_on.host,
    )
    print_steps(report.steps)
    for line in report.undone:
        say("undone: ", line)
    if report.error:
        say("error: ", report.error)


@guarded
def runs(
    vm: Annotated[str | None, typer.Option("--vm", help="Only this VM's runs.")] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help=f"Only runs of this kind: {', '.join(KINDS)}.")
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """hvdr's runs, newest first: id, kind, VM, site, current phase or step, status, start and end."""
    if kind is not None:
        check_kind(kind)  # before Temporal is asked anything

    async def listed() -> list[RunSummary]:
        client = await Client.connect()
        return await client.runs(vm=vm, kind=kind)

    emit(
        run_async(listed()),
        ["workflow_id", "kind", "vm", "site", "phase", "status", "started_at", "closed_at"],
        output,
    )


@guarded
def show(
    run: Annotated[
        str,
        typer.Argument(help="A run id: failover/db-01, failback/db-01 or testfailover/db-01 (`hvdr runs` lists them)."),
    ],
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """A failover, failback or test failover run's report: every step with its start, duration and outcome, what
    was undone (or cleaned up) and why."""

    async def shown() -> FailoverReport | TestFailoverReport:
        client = await Client.connect()
        return await client.show(run)

    report = run_async(shown())
    if output is not OutputFormat.table:
        emit(report, [], output)
    elif isinstance(report, TestFailoverReport):
        print_test_report(report)
    elif isinstance(report, UnplannedReport):
        from hvdr.cli.unplanned import print_unplanned  # it imports this module (its command joins `failover`)

        print_unplanned(report)
    else:
        print_report(report)
