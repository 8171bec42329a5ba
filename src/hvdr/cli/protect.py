"""``hvdr protect …`` and ``hvdr status``: protection of VMs, and what it looks like right now."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

import typer
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from hvdr.cli.common import OutputFormat, cell, console, emit, fail, guarded, run_async, say
from hvdr.client import Client
from hvdr.display import shown
from hvdr.errors import HvdrError
from hvdr.inventory import queries
from hvdr.inventory.db import session_for
from hvdr.inventory.protection import protection_spec, vms_to_protect
from hvdr.protection import CommandResult, DisableRequest, Phase, ProtectionSpec, ProtectionStatus, ResyncRequest
from hvdr.settings import Settings, load_settings

app = typer.Typer(
    help="Protect VMs: enable replication per their cloud's policy, and command it.", no_args_is_help=True
)

VMs = Annotated[list[str] | None, typer.Option("--vm", help="A VM (repeatable).")]
CloudOpt = Annotated[str | None, typer.Option("--cloud", help="Every VM of this (primary) cloud.")]
Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]


def _targets(settings: Settings, vm: list[str] | None, cloud: str | None) -> list[str]:
    if vm and cloud:
        fail("use --vm or --cloud, not both", 2)
    if not vm and not cloud:
        fail("name the VMs: --vm NAME (repeatable), or every VM of a cloud with --cloud NAME", 2)
    with session_for(settings) as session:
        return vms_to_protect(session, vm, cloud)


@app.command()
@guarded
def enable(
    vm: VMs = None,
    cloud: CloudOpt = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the initial copy to the end.")] = True,
    time_scale: Annotated[
        float | None,
        typer.Option("--time-scale", help="Host seconds per real second (the lab's speed; default from settings)."),
    ] = None,
) -> None:
    """Protect VMs: preflight, enable replication per the cloud pairing's policy, initial copy, then delta
    cycles with RPO and health monitoring — one durable run per VM (protect/<vm>).

    Protecting a VM that is already protected leaves its run as it is.
    """
    settings = load_settings()
    names = _targets(settings, vm, cloud)
    scale = time_scale or settings.time_scale
    with session_for(settings) as session:
        specs = [protection_spec(session, name, scale) for name in names]
    statuses = run_async(_enable(specs, wait))
    print_statuses(statuses)


async def _enable(specs: list[ProtectionSpec], wait: bool) -> list[ProtectionStatus]:
    client = await Client.connect()
    statuses = await client.protect(specs)
    say(f"Protection runs for {len(statuses)} VM(s): " + ", ".join(s.workflow_id for s in statuses))
    if not wait:
        return statuses
    settled = (Phase.REPLICATING, Phase.FAILED, Phase.DISABLED, Phase.PAUSED)
    with Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[phase]}", markup=False),
        console=console,
    ) as progress:
        tasks = {s.vm: progress.add_task(shown(s.vm), total=1.0, phase=s.phase.value) for s in statuses}
        while True:
            statuses = [await client.protection_status(s.vm) for s in statuses]
            for s in statuses:
                done = 1.0 if s.phase in settled else (s.initial_progress or 0.0)
                progress.update(tasks[s.vm], completed=done, phase=f"{s.phase.value} {s.replication_state or ''}")
            if all(s.phase in settled for s in statuses):
                return statuses
            await asyncio.sleep(0.5)


def _each(
    settings: Settings, vm: list[str] | None, cloud: CloudOpt, action: Callable[[Client, str], Awaitable[CommandResult]]
) -> None:
    names = _targets(settings, vm, cloud)

    async def run() -> list[tuple[str, CommandResult | HvdrError]]:
        client = await Client.connect(settings)
        results: list[tuple[str, CommandResult | HvdrError]] = []
        for name in names:
            try:
                results.append((name, await action(client, name)))
            except HvdrError as exc:
                if len(names) == 1:
                    raise
                results.append((name, exc))
        return results

    failures = 0
    for name, result in run_async(run()):
        if isinstance(result, HvdrError):
            failures += 1
            say((f"{name}: {result.message}", "red"))
        else:
            say(f"{name}: {result.message} (now {result.phase.value})")
    if failures:
        raise typer.Exit(1)


@app.command()
@guarded
def pause(vm: VMs = None, cloud: CloudOpt = None) -> None:
    """Suspend replication (Suspend-VMReplication); monitoring continues and shows the VM paused."""
    _each(load_settings(), vm, cloud, lambda c, n: c.pause(n))


@app.command()
@guarded
def resume(vm: VMs = None, cloud: CloudOpt = None) -> None:
    """Resume a paused VM's replication, or retry a protection that failed to come up."""
    _each(load_settings(), vm, cloud, lambda c, n: c.resume(n))


@app.command()
@guarded
def resync(
    vm: VMs = None,
    cloud: CloudOpt = None,
    at: Annotated[datetime | None, typer.Option("--at", help="Start at this time (UTC, within 7 days).")] = None,
) -> None:
    """Resynchronize the replica with the primary (block comparison; recovery points are rebuilt)."""
    _each(load_settings(), vm, cloud, lambda c, n: c.resync(n, ResyncRequest(start_at=at)))


@app.command()
@guarded
def policy(
    name: Annotated[str, typer.Argument(help="The replication policy to apply (see `hvdr policies`).")],
    vm: VMs = None,
    cloud: CloudOpt = None,
) -> None:
    """Apply another replication policy to protected VMs (Set-VMReplication)."""
    settings = load_settings()
    with session_for(settings) as session:
        chosen = queries.policy(session, name)
    _each(settings, vm, cloud, lambda c, n: c.change_policy(n, chosen))


@app.command()
@guarded
def disable(
    vm: VMs = None,
    cloud: CloudOpt = None,
    delete_replica: Annotated[
        bool | None,
        typer.Option("--delete-replica/--keep-replica", help="Delete the replica VM (default: as the policy says)."),
    ] = None,
) -> None:
    """Stop protecting VMs: remove replication on both hosts; the run ends."""
    _each(load_settings(), vm, cloud, lambda c, n: c.disable(n, DisableRequest(delete_replica=delete_replica)))


COLUMNS = [
    "vm",
    "direction",
    "primary_host",
    "replication_state",
    "health",
    "rpo",
    "last_replication",
    "phase",
    "alerts",
]


def _rows(statuses: list[ProtectionStatus]) -> list[dict[str, object]]:
    return [
        {
            "vm": s.vm,
            "direction": s.direction,
            "primary_host": s.primary_host,
            "replication_state": s.replication_state or "",
            "health": s.health or "",
            "rpo": "" if s.rpo_s is None else f"{s.rpo_s:.0f} s",
            "last_replication": s.last_replication.strftime("%Y-%m-%d %H:%M:%S") if s.last_replication else "",
            "phase": s.phase.value + (f" {s.initial_progress:.0%}" if s.initial_progress is not None else ""),
            "alerts": "; ".join(f"{a.severity}: {a.message}" for a in s.open_alerts),
        }
        for s in statuses
    ]


def _render(statuses: list[ProtectionStatus]) -> Table:
    table = Table(title=f"Protection — {len(statuses)} VM(s)")
    for column in COLUMNS:
        table.add_column(column.replace("_", " ") + (" (UTC)" if column == "last_replication" else ""))
    for row in _rows(statuses):
        style = "red" if row["alerts"] else None
        table.add_row(*(cell(row[c]) for c in COLUMNS), style=style)
    return table


def print_statuses(statuses: list[ProtectionStatus]) -> None:
    console.print(_render(statuses))


@guarded
def status(
    output: Output = OutputFormat.table,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh every few seconds until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between refreshes with --watch.")] = 2.0,
) -> None:
    """Every protected VM: direction, replication state, health, current RPO, last replication, phase, alerts."""

    async def once() -> list[ProtectionStatus]:
        return await (await Client.connect()).protection_statuses()

    if not watch:
        statuses = run_async(once())
        if output is OutputFormat.table:
            print_statuses(statuses)
        else:
            emit(statuses, [], output)
        return
    try:
        with Live(_render(run_async(once())), console=console, refresh_per_second=2) as live:
            while True:
                time.sleep(interval)
                live.update(_render(run_async(once())))
    except KeyboardInterrupt:
        return
