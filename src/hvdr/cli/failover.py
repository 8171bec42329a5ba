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
from hvdr.errors import HvdrError
from hvdr.failover import FailoverReport, FailoverSpec, ShutdownMode
from hvdr.inventory.db import session_for
from hvdr.inventory.failover import failover_spec
from hvdr.inventory.protection import vms_to_protect
from hvdr.models import RunSummary
from hvdr.protection import Endpoint
from hvdr.settings import load_settings
from hvdr.testfailover import TestFailoverReport
from hvdr.unplanned import UnplannedReport

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


@app.command()
@guarded
def planned(
    vm: Annotated[list[str] | None, typer.Option("--vm", help="A protected VM (repeatable).")] = None,
    shutdown: Annotated[
        Shutdown,
        typer.Option(
            "--shutdown",
            help="graceful: the guest shuts down (fails after Hyper-V's 5 minutes); force: then turned off; "
            "turn-off: power off at once.",
        ),
    ] = Shutdown.graceful,
    no_rollback: Annotated[
        bool, typer.Option("--no-rollback", help="Leave everything as it is when a step fails (no compensation).")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the runs and print their reports.")] = True,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Planned failover, zero data loss: preflight → guest shutdown → prepare (final sync) → fail over on the
    replica → connect the mapped network → start → verify → reverse replication. A failed step after the
    shutdown is undone in reverse order and the source runs again (unless --no-rollback)."""
    if not vm:
        fail("name the VMs to fail over: --vm NAME (repeatable)", 2)
    settings = load_settings()
    with session_for(settings) as session:
        names = vms_to_protect(session, vm, None)
    reports = run_async(_planned(names, shutdown, not no_rollback, wait, settings.time_scale))
    if not wait:
        return
    if output is not OutputFormat.table:
        emit(reports, [], output)
    else:
        for report in reports:
            print_report(report)
    if any(r.outcome != "succeeded" for r in reports):
        raise typer.Exit(1)


async def _planned(
    names: list[str], shutdown: Shutdown, rollback: bool, wait: bool, time_scale: float
) -> list[FailoverReport]:
    client = await Client.connect()
    settings = client.settings
    specs: list[FailoverSpec] = []
    for name in names:
        status = await client.protection_status(name)
        with session_for(settings) as session:
            specs.append(
                failover_spec(
                    session,
                    name,
                    Endpoint(site=status.primary_site, host=status.primary_host),
                    Endpoint(site=status.replica_site, host=status.replica_host),
                    shutdown=_MODES[shutdown],
                    rollback=rollback,
                    time_scale=time_scale,
                )
            )
    ids = [await client.start_planned_failover(spec) for spec in specs]
    say("Failover runs: ", ", ".join(ids))
    if not wait:
        return []
    results = await asyncio.gather(*(client.failover_result(i) for i in ids), return_exceptions=True)
    reports = []
    for result in results:
        if isinstance(result, HvdrError):
            raise result
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
        str | None, typer.Option("--kind", help="protection, failover, testfailover, discovery or ping.")
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """hvdr's runs, newest first: id, kind, VM, site, current phase or step, status, start and end."""

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
        str, typer.Argument(help="A run id, e.g. failover/db-01 or testfailover/db-01 (`hvdr runs` lists them).")
    ],
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """A failover or test failover run's report: every step with its start, duration and outcome, what was undone
    (or cleaned up) and why."""

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
