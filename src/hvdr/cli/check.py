"""``hvdr check``: the readiness check — what would make a failover fail today, each finding with its fix."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated

import typer

from hvdr.cli.common import OutputFormat, emit, fail, guarded, run_async, say
from hvdr.client import Client
from hvdr.inventory.db import session_for
from hvdr.inventory.readiness import check_request
from hvdr.readiness import CHECKS_FAILED_EXIT, CheckReport, CheckRequest, Severity
from hvdr.settings import load_settings

COLUMNS = ("severity", "check", "subject", "message", "fix")


@guarded
def check(
    cloud: Annotated[str | None, typer.Option("--cloud", help="Only this cloud's pairing (either side).")] = None,
    site: Annotated[str | None, typer.Option("--site", help="Only the pairings with this site on a side.")] = None,
    certificate_days: Annotated[
        int,
        typer.Option(
            "--certificate-days", min=0, help="A WinRM HTTPS certificate expiring within this many days is an error."
        ),
    ] = 14,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table or json.")] = OutputFormat.table,
) -> None:
    """Check readiness: every VM of a paired cloud protected and healthy, replication settings as the policy
    declares, mapped and test switches on the recovery hosts, failover IPs where a plan changes subnet, replica
    storage room, WinRM certificates, and the age of each plan's last successful drill.

    Each host is read (reads only) by its site's worker, in a run check/<id>. Every finding names its fix.
    Exit code: 0 when nothing would make a failover fail (warnings only), 10 when any finding is an error,
    1-5 when the check itself could not run (2 bad input, 3 Temporal unreachable, 4 unknown cloud or site).
    """
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
