"""``hvdr worker`` and ``hvdr up``: the processes that run hvdr's workflows and site activities."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from hvdr.cli.common import console, guarded, run_async
from hvdr.client import connect_temporal
from hvdr.inventory.sites import configured_sites, require_sites
from hvdr.runtime import temporal_server
from hvdr.settings import WORKFLOW_TASK_QUEUE, Settings, load_settings, site_task_queue
from hvdr.worker.run import build_workers, run_workers


async def _serve(settings: Settings, sites: list[str]) -> None:
    client = await connect_temporal(settings)
    workers = build_workers(client, sites, settings=settings)
    queues = ", ".join([WORKFLOW_TASK_QUEUE, *(site_task_queue(s) for s in sites)])
    console.print(f"Worker polling {queues} at {settings.temporal.address}. Ctrl-C drains and stops.")
    await run_workers(workers)
    console.print("Worker stopped.")


@guarded
def worker(
    site: Annotated[
        list[str], typer.Option("--site", "-s", help="A site whose activities this worker runs (repeatable).")
    ],
) -> None:
    """Run a worker: hvdr's workflows, plus the activities of the given site(s) on hvdr-site-<site>.

    Run one (or more, for capacity) at each site, where it can reach that site's Hyper-V hosts over
    WinRM. SIGINT / SIGTERM let running activities finish before it exits.
    """
    settings = load_settings()
    sites = require_sites(settings, site)
    run_async(_serve(settings, sites))


async def _up(settings: Settings, sites: list[str]) -> None:
    status, started = await temporal_server.start(settings)
    what = "Started" if started else "Using"
    console.print(f"{what} Temporal at {status.address}; web UI: [bold]{status.ui_url}[/]")
    try:
        await _serve(settings, sites)
    finally:
        if started:
            await asyncio.to_thread(temporal_server.stop, settings)
            console.print("Stopped the Temporal server this command started.")


@guarded
def up(
    site: Annotated[
        list[str] | None, typer.Option("--site", "-s", help="Serve only these sites (default: all).")
    ] = None,
) -> None:
    """Everything on one machine, in the foreground: embedded Temporal and a worker for every site.

    Prints where the web UI is; Ctrl-C stops what it started (a server that was already running stays).
    """
    settings = load_settings()
    sites = require_sites(settings, site) if site else configured_sites(settings)
    run_async(_up(settings, sites))
