"""``hvdr report [RUN] [--format html|md|json] [-o FILE]``: a run's report, or the list of runs that have one."""

from __future__ import annotations

import asyncio
import enum
import json
import re
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer

from hvdr.cli.common import OutputFormat, emit, fail, guarded, run_async, say, tolerant_streams
from hvdr.client import Client
from hvdr.errors import ConfigError
from hvdr.models import RunSummary
from hvdr.report import RunReport
from hvdr.report_render import render
from hvdr.settings import Settings, load_settings


class Format(enum.StrEnum):
    html = "html"
    md = "md"
    json = "json"


def default_path(settings: Settings, run_id: str, fmt: str = "html") -> Path:
    """Where a report goes when no file is named: ``<HVDR_HOME>/reports/<run id, / as _>.<format>``."""
    return settings.home / "reports" / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', run_id)}.{fmt}"


def write_report(report: RunReport, fmt: str, path: Path) -> Path:
    """Write a rendered report (creating its folder); a path that cannot be written is a one-line error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(report, fmt), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot write the report to {path}: {exc.strerror or exc}; name another file with -o"
        ) from exc
    return path.resolve()


LAB_CHECKSUMS = "the lab's disk checksums of both copies at the failover (control API, GET /failovers)"


def lab_failovers(endpoints: Path) -> list[dict[str, Any]] | None:
    """The running lab's failover records (with disk checksums); None when no lab answers (real hosts have none)."""
    from hvdr.cli.lab import _control

    if not endpoints.is_file():
        return None
    url, token, _ = _control(endpoints)
    request = urllib.request.Request(url + "/failovers", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            rows = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return rows if isinstance(rows, list) else None


async def build_report(client: Client, run_id: str, settings: Settings) -> RunReport:
    """A run's report; against the lab (``HVDR_LAB``) with the disk checksums it measured at each failover."""
    built = await client.report(run_id)
    if settings.lab:
        failovers = await asyncio.to_thread(lab_failovers, settings.lab_endpoints)
        if failovers is not None:
            built.attach_checksums(failovers, LAB_CHECKSUMS)
    return built


@guarded
def report(
    run: Annotated[
        str | None, typer.Argument(help="A run id, e.g. failover/db-01; omitted: list the runs that have a report.")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="html, md or json.")] = Format.md,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (html without -o: <HVDR_HOME>/reports/<run>.html)."),
    ] = None,
) -> None:
    """A run's report: every VM's steps with start, end and outcome, a timeline (Gantt) chart in HTML, what
    compensation undid, approvals with who decided, RTO per VM and for the run against the plan's target, and
    data loss with how it was established. Markdown and JSON print to stdout unless -o names a file; HTML is
    one self-contained file (opens offline) whose path is printed."""
    if run is None:
        if output is not None or fmt is Format.html:
            fail("name the run to report on (`hvdr report` alone lists the runs that have a report)", 2)

        async def listed() -> list[RunSummary]:
            client = await Client.connect()
            return await client.reports()

        emit(
            run_async(listed()),
            ["workflow_id", "kind", "vm", "site", "phase", "status", "started_at", "closed_at"],
            OutputFormat.json if fmt is Format.json else OutputFormat.table,
        )
        return

    settings = load_settings()

    async def read() -> RunReport:
        return await build_report(await Client.connect(settings), run, settings)

    built = run_async(read())
    if output is None and fmt is not Format.html:
        tolerant_streams()
        typer.echo(render(built, fmt.value), nl=False)
        return
    path = write_report(built, fmt.value, output or default_path(settings, built.run_id, fmt.value))
    say(f"{fmt.value} report of {built.run_id}: ", str(path))
