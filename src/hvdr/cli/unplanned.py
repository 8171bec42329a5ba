"""Unplanned failover from the CLI: ``hvdr recovery-points``, ``hvdr failover unplanned``, ``hvdr commit``,
``hvdr cancel`` and ``hvdr reverse``."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from hvdr.cli.common import OutputFormat, emit, fail, guarded, run_async, say
from hvdr.cli.failover import app as failover_app
from hvdr.cli.failover import print_report
from hvdr.client import Client
from hvdr.durations import parse_duration
from hvdr.inventory.db import session_for
from hvdr.inventory.failover import failover_spec
from hvdr.inventory.protection import vms_to_protect
from hvdr.protection import Endpoint
from hvdr.recovery_points import LATEST, parse_point
from hvdr.settings import load_settings
from hvdr.unplanned import ReverseReport, UnplannedReport, UnplannedSpec


@failover_app.command()
@guarded
def unplanned(
    vm: Annotated[list[str] | None, typer.Option("--vm", help="A protected VM (repeatable).")] = None,
    point: Annotated[
        str,
        typer.Option(
            "--point",
            help="latest, latest-app-consistent, a time (the newest point at or before it) or a recovery point id "
            "(`hvdr recovery-points`).",
        ),
    ] = LATEST,
    force: Annotated[
        bool,
        typer.Option("--force", help="Go on when the old primary does not answer and so cannot be fenced."),
    ] = False,
    auto_commit_after: Annotated[
        str | None,
        typer.Option("--auto-commit-after", help="Commit by itself this long after a verified start (e.g. 30m)."),
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Unplanned failover (the primary site is lost): fence the old primary (or --force), fail over on the
    replica from the chosen recovery point, connect, start, verify; then `hvdr commit` or `hvdr cancel`."""
    if not vm:
        fail("name the VMs to fail over: --vm NAME (repeatable)", 2)
    try:
        chosen = parse_point(point)
        after = parse_duration(auto_commit_after, "--auto-commit-after") if auto_commit_after is not None else None
    except ValueError as error:
        fail(str(error), 2)
    settings = load_settings()
    with session_for(settings) as session:
        names = vms_to_protect(session, vm, None)
    reports = run_async(_unplanned(names, chosen, force, after))
    if output is not OutputFormat.table:
        emit(reports, [], output)
    else:
        for report in reports:
            if report.outcome == "refused":
                say("error: ", report.vm, ": ", report.error or "refused", err=True)
            else:
                print_unplanned(report)
    if any(r.outcome not in ("waiting", "committed") for r in reports):
        raise typer.Exit(1)


async def _unplanned(names: list[str], point: str, force: bool, after: float | None) -> list[UnplannedReport]:
    client = await Client.connect()
    settings = client.settings
    specs: list[UnplannedSpec] = []
    for name in names:
        status = await client.protection_status(name)
        with session_for(settings) as session:
            base = failover_spec(
                session,
                name,
                Endpoint(site=status.primary_site, host=status.primary_host),
                Endpoint(site=status.replica_site, host=status.replica_host),
                time_scale=settings.time_scale,
            )
        specs.append(UnplannedSpec(**base.model_dump(), point=point, force=force, auto_commit_after_s=after))
    ids = [await client.start_unplanned_failover(spec) for spec in specs]
    say("Failover runs: ", ", ".join(ids))
    return list(await asyncio.gather(*(client.unplanned_report(i) for i in ids)))


def print_unplanned(report: UnplannedReport) -> None:
    print_report(report)
    point = report.recovery_point
    if point is not None:
        when = point.time.isoformat() if point.time else "unknown"
        say("recovery point: ", point.id, " (", point.type, ", ", when, ")")
    if report.data_loss_s is not None:
        say("data lost: ", f"{report.data_loss_s:.0f} s", " (from the recovery point to the failover)")
    say("fence: ", report.fence or "–")
    if report.outcome == "waiting":
        auto = f"; auto-commit at {report.auto_commit_at.isoformat()}" if report.auto_commit_at else ""
        say(f"waiting: `hvdr commit --vm {report.vm}` or `hvdr cancel --vm {report.vm}`", auto)


@guarded
def recovery_points(
    vm: Annotated[str, typer.Option("--vm", help="A protected VM.")],
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """The recovery points of a VM's replica, oldest first (the last, `latest`, is its latest state)."""

    async def listed() -> list[dict[str, object]]:
        client = await Client.connect()
        points = await client.recovery_points(vm)
        return [p.model_dump(mode="json") for p in points.points]

    emit(run_async(listed()), ["id", "time", "type", "name"], output)


def _decide(vm: str, what: str, output: OutputFormat) -> None:
    async def decided() -> UnplannedReport:
        client = await Client.connect()
        return await (client.commit(vm) if what == "commit" else client.cancel(vm))

    report = run_async(decided())
    if output is OutputFormat.table:
        print_unplanned(report)
    else:
        emit(report, [], output)


@guarded
def commit(
    vm: Annotated[str, typer.Option("--vm", help="The VM whose unplanned failover waits for a decision.")],
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Commit an unplanned failover (Complete-VMFailover; the other recovery points are gone)."""
    _decide(vm, "commit", output)


@guarded
def cancel(
    vm: Annotated[str, typer.Option("--vm", help="The VM whose unplanned failover waits for a decision.")],
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Cancel an unplanned failover (Stop-VMFailover: the copy is off and a replica again); the run ends, and
    `hvdr failover unplanned --point …` tries another recovery point."""
    _decide(vm, "cancel", output)


@guarded
def reverse(
    vm: Annotated[str, typer.Option("--vm", help="A VM whose unplanned failover was committed.")],
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Once the old primary is back: -AsReplica there, -Reverse here, the initial replication per policy;
    protection then monitors the new direction."""

    async def reversed_() -> ReverseReport:
        client = await Client.connect()
        return await client.reverse(vm)

    report = run_async(reversed_())
    if output is not OutputFormat.table:
        emit(report, [], output)
    else:
        say((report.workflow_id, "bold"), ": ", report.outcome, " — ", report.primary.host, " → ", report.replica.host)
        emit([s.model_dump(mode="json") for s in report.steps], ["step", "outcome", "detail"], OutputFormat.table)
        if report.error:
            say("error: ", report.error)
    if report.outcome != "succeeded":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("recovery-points")(recovery_points)
    app.command()(commit)
    app.command()(cancel)
    app.command()(reverse)
