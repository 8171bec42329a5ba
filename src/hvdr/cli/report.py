"""``hvdr report [RUN|estate] [--format html|md|json] [-o FILE]`` and ``hvdr reports``: a run's report, the estate
report, or the list of runs that have one."""

from __future__ import annotations

import asyncio
import enum
import json
import re
import urllib.request
import uuid
from datetime import UTC, datetime
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
from hvdr.visibility import KINDS, check_kind


class Format(enum.StrEnum):
    html = "html"
    md = "md"
    json = "json"


def default_path(settings: Settings, run_id: str, fmt: str = "html") -> Path:
    """Where a report goes when no file is named: ``<HVDR_HOME>/reports/<run id, / as _>.<format>``."""
    return settings.home / "reports" / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', run_id)}.{fmt}"


def write_report(report: RunReport, fmt: str, path: Path) -> Path:
    """Write a rendered report (creating its folder); a path that cannot be written is a one-line error."""
    return write_page(render(report, fmt), path)


def write_page(text: str, path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
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


ESTATE = "estate"
"""``hvdr report estate``: a word, never a run id (run ids hold a ``/``)."""
LIST_COLUMNS = ["workflow_id", "kind", "outcome", "started_at", "closed_at", "vm", "site", "status"]


def _listing(vm: str | None, kind: str | None, output: OutputFormat) -> None:
    if kind is not None:
        check_kind(kind)  # before Temporal is asked anything

    async def listed() -> list[RunSummary]:
        client = await Client.connect()
        return await client.reports(vm=vm, kind=kind)

    rows = [
        {**r.model_dump(mode="json"), "outcome": (r.phase or r.status) if r.status == "completed" else r.status}
        for r in run_async(listed())
    ]
    emit(rows, LIST_COLUMNS, output, title="runs with a report (`hvdr report RUN`)")


@guarded
def reports(
    vm: Annotated[str | None, typer.Option("--vm", help="Only runs of this VM.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help=f"Only runs of this kind: {', '.join(KINDS)}.")] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """The reports there are: every run with a report (`hvdr report RUN`), newest first — its kind, when it
    started and ended, and its outcome (the final phase of a completed run: done, failed, rolled_back, waiting…;
    else Temporal's status: running, failed, terminated)."""
    _listing(vm, kind, output)


@guarded
def report(
    run: Annotated[
        str | None,
        typer.Argument(
            help="A run id, e.g. failover/db-01; `estate` for the estate report; omitted: list the runs that have a "
            "report (as `hvdr reports`)."
        ),
    ] = None,
    fmt: Annotated[
        Format | None, typer.Option("--format", "-f", help="html, md or json (default: md; the estate: html).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (html without -o: <HVDR_HOME>/reports/<run>.html)."),
    ] = None,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Estate report: do not run the readiness check (readiness not shown).")
    ] = False,
) -> None:
    """A run's report: every VM's steps with start, end and outcome, a timeline (Gantt) chart in HTML, what
    compensation undid, approvals with who decided, RTO per VM and for the run against the plan's target, and
    data loss with how it was established. Markdown and JSON print to stdout unless -o names a file; HTML is
    one self-contained file (opens offline) whose path is printed.

    `hvdr report estate` is the estate report: per protected VM its RPO history as a chart, health, last
    successful drill and readiness (a readiness check runs for it, reads only), as one self-contained HTML page
    (or --format json)."""
    if run is None:
        if output is not None or fmt is Format.html:
            fail("name the run to report on (`hvdr report` alone lists the runs that have a report)", 2)
        _listing(None, None, OutputFormat.json if fmt is Format.json else OutputFormat.table)
        return
    settings = load_settings()
    if run.lower() == ESTATE:
        _estate(settings, fmt or Format.html, output, check=not no_check)
        return
    fmt = fmt or Format.md

    async def read() -> RunReport:
        return await build_report(await Client.connect(settings), run, settings)

    built = run_async(read())
    if output is None and fmt is not Format.html:
        tolerant_streams()
        typer.echo(render(built, fmt.value), nl=False)
        return
    path = write_report(built, fmt.value, output or default_path(settings, built.run_id, fmt.value))
    say(f"{fmt.value} report of {built.run_id}: ", str(path))


def _estate(settings: Settings, fmt: Format, output: Path | None, *, check: bool) -> None:
    from hvdr.estate import EstateReport
    from hvdr.estate_render import render_estate
    from hvdr.inventory.db import session_for
    from hvdr.inventory.readiness import check_request

    if fmt is Format.md:
        fail("the estate report is html or json: use --format html (the default) or --format json", 2)
    request = None
    if check:
        check_id = f"estate-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        with session_for(settings) as session:
            request = check_request(session, check_id)
        if not request.pairings:
            request = None  # nothing paired: readiness is "not checked", with the reason on the page

    async def read() -> EstateReport:
        async with await Client.connect(settings) as client:
            return await client.estate(request)

    built = run_async(read())
    if request is None and check and built.check_error is None:
        built.check_error = "no cloud pairing to check (declare cloud_pairings in the topology and `hvdr apply` it)"
    text = render_estate(built, fmt.value)
    if output is None and fmt is Format.json:
        tolerant_streams()
        typer.echo(text, nl=False)
        return
    path = write_page(text, output or default_path(settings, f"estate-{built.generated_at:%Y%m%dT%H%M%SZ}", fmt.value))
    say(f"estate report ({len(built.vms)} VM(s)): ", str(path))
