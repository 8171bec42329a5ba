"""``hvdr check``: the readiness check — what would make a failover fail today, each finding with its fix."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated

import typer

from hvdr.cli.common import OutputFormat, emit, fail, guarded, run_async, say
from hvdr.client import Client
from hvdr.durations import parse_duration
from hvdr.inventory.db import session_for
from hvdr.inventory.readiness import check_request
from hvdr.readiness import CHECKS_FAILED_EXIT, ESTATE_SCOPE, CheckReport, CheckRequest, CheckSchedule, Severity
from hvdr.settings import load_settings

COLUMNS = ("severity", "check", "subject", "message", "fix")
SCHEDULE_COLUMNS = ("scope", "schedule_id", "every", "paused", "next_runs", "last", "recent_runs")

app = typer.Typer(invoke_without_command=True)
Cloud = Annotated[str | None, typer.Option("--cloud", help="Only this cloud's pairing (either side).")]
Site = Annotated[str | None, typer.Option("--site", help="Only the pairings with this site on a side.")]
Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="table or json.")]


@app.callback()
@guarded
def check(
    ctx: typer.Context,
    cloud: Cloud = None,
    site: Site = None,
    certificate_days: Annotated[
        int,
        typer.Option(
            "--certificate-days", min=0, help="A WinRM HTTPS certificate expiring within this many days is an error."
        ),
    ] = 14,
    output: Output = OutputFormat.table,
) -> None:
    """Check readiness: every VM of a paired cloud protected and healthy, replication settings as the policy
    declares, mapped and test switches on the recovery hosts, failover IPs where a plan changes subnet, replica
    storage room, WinRM certificates, and the age of each plan's last successful drill.

    Each host is read (reads only) by its site's worker, in a run check/<id>. Every finding names its fix.
    Exit code: 0 when nothing would make a failover fail (warnings only), 10 when any finding is an error,
    1-5 when the check itself could not run (2 bad input, 3 Temporal unreachable, 4 unknown cloud or site).

    `hvdr check schedule --every 1h` runs it on a Temporal Schedule; each run's findings show as alerts in
    `hvdr status` (see `hvdr check schedule --help`).
    """
    if ctx.invoked_subcommand is not None:
        return
    if output is OutputFormat.yaml:
        fail("-o yaml is not offered here: use table or json", 2)
    check_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    settings = load_settings()
    with session_for(settings) as session:
        request = check_request(session, check_id, cloud=cloud, site=site, certificate_days=certificate_days)
    if not request.pairings:
        fail(
            "nothing to check: no cloud pairing matches (declare cloud_pairings in the topology and `hvdr apply` it)", 2
        )
    report = run_async(_run(request))
    if output is OutputFormat.json:
        typer.echo(json.dumps({"ready": report.ready, **report.model_dump(mode="json")}, indent=2))
    else:
        rows = [f.model_dump(mode="json") for f in report.findings]
        if rows:
            emit(rows, COLUMNS, output, title=f"check/{report.check_id}")
        warnings = len(report.findings) - len(report.errors)
        verdict = ("ready", "green") if report.ready else ("NOT READY", "bold red")
        say(
            verdict,
            f": {len(report.errors)} error(s), {warnings} warning(s) over {report.vms} VM(s), {report.hosts} host(s) "
            f"and {report.plans} plan(s)",
        )
    if any(f.severity is Severity.ERROR for f in report.findings):
        raise typer.Exit(CHECKS_FAILED_EXIT)


async def _run(request: CheckRequest) -> CheckReport:
    async with await Client.connect() as client:
        return await client.check(request)


@app.command()
@guarded
def schedule(
    every: Annotated[
        str | None, typer.Option("--every", help="How often: 30m, 1h, 1d (at least 1m).", show_default=False)
    ] = None,
    cron: Annotated[str | None, typer.Option("--cron", help='Or when, in UTC, e.g. "0 * * * *".')] = None,
    cloud: Cloud = None,
    site: Site = None,
    certificate_days: Annotated[int, typer.Option("--certificate-days", min=0)] = 14,
    output: Output = OutputFormat.table,
) -> None:
    """Run the readiness check on a schedule (schedule check/<scope>: estate, or the --cloud / --site it is limited
    to; overlapping runs are skipped). Each run's findings become alerts: in `hvdr status`, on the VMs they concern
    (the VM, or one of its hosts) until a later run no longer finds them; the run's HvdrPhase (ready / not-ready);
    a WARNING line per error in the worker's log; the gauge hvdr_readiness_findings over OTLP."""
    seconds = None
    if every is not None:
        try:
            seconds = parse_duration(every, "--every")
        except ValueError as exc:
            fail(str(exc), 2)

    async def create() -> CheckSchedule:
        async with await Client.connect() as client:
            return await client.check_schedule(seconds, cron, cloud=cloud, site=site, certificate_days=certificate_days)

    emit(run_async(create()), SCHEDULE_COLUMNS, _listing(output))


@app.command("list")
@guarded
def list_(output: Output = OutputFormat.table) -> None:
    """Every scheduled readiness check: when, next runs, the newest run's verdict, its latest runs."""

    async def listed() -> list[CheckSchedule]:
        async with await Client.connect() as client:
            return await client.check_schedules()

    emit(run_async(listed()), SCHEDULE_COLUMNS, _listing(output))


@app.command()
@guarded
def delete(cloud: Cloud = None, site: Site = None) -> None:
    """Delete a scheduled check (of the estate, or of the --cloud / --site it was limited to); its findings stop
    showing as alerts."""
    if cloud and site:
        fail("name the cloud or the site of the scheduled check, not both", 2)

    async def deleted() -> str:
        async with await Client.connect() as client:
            return await client.check_schedule_delete(cloud or site or ESTATE_SCOPE)

    say("deleted ", run_async(deleted()))


def _listing(output: OutputFormat) -> OutputFormat:
    if output is OutputFormat.yaml:
        fail("-o yaml is not offered here: use table or json", 2)
    return output
