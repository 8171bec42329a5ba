"""``hvdr demo``: the main job end to end on embedded defaults, then exit."""

from __future__ import annotations

import asyncio

from hvdr.cli.common import console, guarded, run_async
from hvdr.client import Client
from hvdr.inventory.sites import configured_sites
from hvdr.runtime import temporal_server
from hvdr.settings import Settings, load_settings
from hvdr.worker.run import build_workers, run_workers


async def _demo(settings: Settings) -> None:
    sites = configured_sites(settings)
    status, started = await temporal_server.start(settings)
    console.print(
        f"[bold]1.[/] Temporal at {status.address} ({'started' if started else 'already running'}); "
        f"web UI: {status.ui_url}"
    )
    try:
        client = await Client.connect(settings)
        stop = asyncio.Event()
        workers = build_workers(client.temporal, sites, settings=settings)
        serving = asyncio.create_task(run_workers(workers, stop))
        console.print(f"[bold]2.[/] Workers for sites {', '.join(sites)}")
        try:
            for site in sites:
                result = await client.ping(site)
                console.print(
                    f"[bold]3.[/] ping {site}: answered on {result.reply.task_queue} in "
                    f"{result.round_trip_ms:.0f} ms (run {result.workflow_id})"
                )
        finally:
            stop.set()
            await serving
    finally:
        if started:
            await asyncio.to_thread(temporal_server.stop, settings)
    console.print("[green]Demo complete.[/] The runs are in the web UI after `hvdr server start`.")


@guarded
def demo() -> None:
    """Run the whole path on this machine and exit: embedded Temporal, site workers, a ping per site."""
    run_async(_demo(load_settings()))
