"""``hvdr ping``: prove CLI → Temporal → worker → activity for a site."""

from __future__ import annotations

from typing import Annotated

import typer

from hvdr.cli.common import OutputFormat, emit, guarded, run_async, say
from hvdr.client import Client
from hvdr.inventory.sites import require_sites
from hvdr.models import PingResult
from hvdr.settings import load_settings


async def _ping(sites: list[str]) -> list[PingResult]:
    client = await Client.connect()
    return [await client.ping(site) for site in sites]


@guarded
def ping(
    site: Annotated[list[str], typer.Option("--site", "-s", help="Site to ping (repeatable).")],
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Run a workflow whose activity executes on the site's worker, and report the round trip."""
    sites = require_sites(load_settings(), site)
    results = run_async(_ping(sites))
    if output is not OutputFormat.table:
        emit(results, [], output)
        return
    for r in results:
        say(
            f"site [bold]{r.site}[/]: answered by {r.reply.worker_identity} on {r.reply.task_queue} "
            f"in {r.round_trip_ms:.0f} ms (activity answered {r.activity_latency_ms:.0f} ms after the run "
            f"started; workflow {r.workflow_id})"
        )
