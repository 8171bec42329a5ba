"""Everything on one machine: embedded Temporal, the lab, the inventory, a worker per site.

``hvdr up`` keeps it running in the foreground; ``hvdr demo`` runs the main job through it and exits. What
the stack starts, it stops; what was already running (a Temporal server, say) it leaves running.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from hvdr.client import Client, connect_temporal
from hvdr.inventory import queries
from hvdr.inventory.apply import apply_topology
from hvdr.inventory.db import session_for
from hvdr.inventory.sites import configured_sites, topology_path
from hvdr.lab.runner import Lab, remove_endpoints
from hvdr.runtime import temporal_server
from hvdr.runtime.temporal_server import ServerStatus
from hvdr.settings import Settings
from hvdr.worker.hosts import HostDirectory
from hvdr.worker.run import build_workers, run_workers


@dataclass
class Stack:
    settings: Settings
    server: ServerStatus
    client: Client
    sites: list[str]
    lab_control: str | None = None
    started: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def local_stack(
    settings: Settings,
    *,
    lab: bool = True,
    speed: float | None = None,
    apply: bool = False,
    sites: list[str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> AsyncIterator[Stack]:
    """Start what is missing, yield the running stack, stop what was started (in reverse order)."""
    async with contextlib.AsyncExitStack() as exits:
        server, started_server = await temporal_server.start(settings)
        if started_server:
            exits.callback(temporal_server.stop, settings)
        await temporal_server.ensure_namespace(settings)
        say(
            f"Temporal at {server.address} ({'started' if started_server else 'already running'}), namespace "
            f"{settings.temporal.namespace}; web UI: {server.ui_url}"
        )
        lab_control = None
        if lab:
            topology_file = topology_path(settings)
            running = Lab(topology_file, speed=speed)
            await asyncio.to_thread(running.start)
            exits.callback(_stop_lab, running, settings)
            # What this stack runs uses the lab, said explicitly; nothing else infers it from the file.
            settings = settings.with_lab(running.clock.speed)
            running.write_endpoints(settings.lab_endpoints)
            lab_control = running.control_url
            say(
                f"Lab of {topology_file.name} at speed {running.clock.speed:g} "
                f"({len(running.endpoints['hosts'])} WinRM hosts); control API: {lab_control}"
            )
        with session_for(settings) as session:
            empty = not queries.sites(session)
        if apply or empty:
            from hvdr.inventory.validate import load_and_validate

            topology = load_and_validate(topology_path(settings))
            with session_for(settings) as session:
                changes = apply_topology(session, topology)
            say(f"Inventory: applied {topology_path(settings).name} ({len(changes)} change(s))")
        served = sites or configured_sites(settings)
        client = Client(await connect_temporal(settings), settings)
        hosts = HostDirectory(settings)
        exits.callback(hosts.close)
        stop = asyncio.Event()
        serving = asyncio.create_task(run_workers(build_workers(client.temporal, served, hosts=hosts), stop))

        async def stop_workers() -> None:
            stop.set()
            await serving

        exits.push_async_callback(stop_workers)
        say(f"Workers for {', '.join(served)}")
        stack = Stack(settings, server, client, served, lab_control)
        stack.started = ["temporal"] * started_server + ["lab"] * lab
        yield stack


def _stop_lab(lab: Lab, settings: Settings) -> None:
    lab.stop()
    remove_endpoints(settings.lab_endpoints)
