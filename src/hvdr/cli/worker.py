"""``hvdr worker`` and ``hvdr up``: the processes that run hvdr's workflows and site activities."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer

from hvdr.cli.common import guarded, run_async, say
from hvdr.client import connect_temporal
from hvdr.inventory.sites import require_sites
from hvdr.runtime.stack import local_stack
from hvdr.settings import WORKFLOW_TASK_QUEUE, Settings, load_settings, site_task_queue
from hvdr.worker.run import build_workers, run_workers


async def _serve(settings: Settings, sites: list[str]) -> None:
    client = await connect_temporal(settings)
    workers = build_workers(client, sites, settings=settings)
    queues = ", ".join([WORKFLOW_TASK_QUEUE, *(site_task_queue(s) for s in sites)])
    say(f"Worker polling {queues} at {settings.temporal.address}. Ctrl-C drains and stops.")
    await run_workers(workers)
    say("Worker stopped.")


@guarded
def worker(
    site: Annotated[
        list[str], typer.Option("--site", "-s", help="A site whose activities this worker runs (repeatable).")
    ],
    lab: Annotated[
        bool,
        typer.Option("--lab", help="Reach the hosts the running lab serves at its endpoints (same as HVDR_LAB=1)."),
    ] = False,
) -> None:
    """Run a worker: hvdr's workflows, plus the activities of the given site(s) on hvdr-site-<site>.

    Run one (or more, for capacity) at each site, where it can reach that site's Hyper-V hosts over
    WinRM. SIGINT / SIGTERM let running activities finish before it exits.
    """
    settings = load_settings()
    if lab:
        settings = settings.model_copy(update={"lab": True})
    sites = require_sites(settings, site)
    run_async(_serve(settings, sites))


async def _up(settings: Settings, sites: list[str] | None, lab: bool, speed: float | None) -> None:
    async with local_stack(settings, lab=lab, speed=speed, sites=sites, say=say) as stack:
        if stack.lab_control:
            say(
                f"Commands in other shells use this lab (and its speed, {stack.settings.time_scale:g}x, as their "
                "time scale) with HVDR_LAB=1."
            )
        say(
            "Ready. Web UI: ",
            (stack.server.ui_url, "bold"),
            f". Worker polling {WORKFLOW_TASK_QUEUE} and "
            f"{', '.join(site_task_queue(s) for s in stack.sites)}. Ctrl-C stops what this started.",
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    if "temporal" in stack.started:
        say("Stopped the Temporal server this command started.")
    say("Stopped.")


@guarded
def up(
    site: Annotated[
        list[str] | None, typer.Option("--site", "-s", help="Serve only these sites (default: all).")
    ] = None,
    lab: Annotated[
        bool, typer.Option("--lab/--no-lab", help="Also run the lab (the simulated estate) for the topology.")
    ] = True,
    speed: Annotated[
        float | None, typer.Option("--speed", help="Lab clock speed (default: the topology's lab.speed).")
    ] = None,
) -> None:
    """Everything on one machine, in the foreground: embedded Temporal, the lab, and a worker per site.

    Applies the topology (HVDR_TOPOLOGY, default the lab's) to an empty inventory, prints where the web UI
    is, and on Ctrl-C stops what it started (a Temporal server that was already running stays).
    """
    settings = load_settings()
    if site:
        require_sites(settings, site)
    run_async(_up(settings, site, lab, speed))
