"""``hvdr protect …`` and ``hvdr status``: protection of VMs, and what it looks like right now."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from hvdr.cli.common import OutputFormat, columns, console, emit, fail, guarded, run_async, say
from hvdr.client import Client, resolve_vms
from hvdr.display import shown
from hvdr.outcomes import CommandOutcome, ProtectionProgress
from hvdr.protection import ProtectionStatus
from hvdr.settings import Settings, load_settings

app = typer.Typer(
    help="Protect VMs: enable replication per their cloud's policy, and command it.", no_args_is_help=True
)

VMs = Annotated[list[str] | None, typer.Option("--vm", help="A VM (repeatable).")]
CloudOpt = Annotated[str | None, typer.Option("--cloud", help="Every VM of this (primary) cloud.")]
Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]


def _targets(vm: list[str] | None, cloud: str | None) -> None:
    """Usage errors first: which VMs is a command about? (Names are checked by the Client, in the inventory.)"""
    if vm and cloud:
        fail("use --vm or --cloud, not both", 2)
    if not vm and not cloud:
        fail("name the VMs: --vm NAME (repeatable), or every VM of a cloud with --cloud NAME", 2)


async def _client(settings: Settings, vm: list[str] | None, cloud: str | None) -> Client:
    """A client, once the targets are known to exist: a bad name fails before Temporal is asked anything."""
    _targets(vm, cloud)
    resolve_vms(settings, vm, cloud)
    return await Client.connect(settings)


@app.command()
@guarded
def enable(
    vm: VMs = None,
    cloud: CloudOpt = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the runs until every one settles.")] = True,
    time_scale: Annotated[
        float | None,
        typer.Option("--time-scale", help="Host seconds per real second (the lab's speed; default from settings)."),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="With --wait: give up after this many seconds.")
    ] = None,
) -> None:
    """Protect VMs: preflight, enable replication per the cloud pairing's policy, initial copy, then delta
    cycles with RPO and health monitoring — one durable run per VM (protect/<vm>).

    Protecting a VM that is already protected leaves its run as it is. With --wait (the default) one progress
    line follows all the runs and the command returns when every one has settled (replicating, failed,
    paused, disabled); it exits 1 when any failed.
    """
    settings = load_settings()
    progress = run_async(_enable(settings, vm, cloud, wait, time_scale, timeout))
    if progress is None:
        return
    say(f"{len(progress.replicating)}/{progress.total} VM(s) replicating. {progress.summary()}")
    for name, reason in sorted(progress.failed.items()):
        say((f"failed: {name}: {reason}", "red"))
    if progress.failed:
        raise typer.Exit(1)


async def _enable(
    settings: Settings,
    vm: list[str] | None,
    cloud: str | None,
    wait: bool,
    time_scale: float | None,
    timeout: float | None,
) -> ProtectionProgress | None:
    client = await _client(settings, vm, cloud)
    rollout = await client.protect(vm, cloud=cloud, time_scale=time_scale)
    runs = rollout.runs
    first = ", ".join(r.workflow_id for r in runs[:3]) + (f", … ({len(runs) - 3} more)" if len(runs) > 3 else "")
    say(f"Started protection runs for {len(runs)} VM(s) in {rollout.start_seconds:.1f} s: {first}")
    if not wait:
        say("Follow them with `hvdr status` (or `hvdr protect enable … --wait`).")
        return None
    with Progress(
        TextColumn("settled"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[phases]}", markup=False),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("protection", total=len(runs), phases="")

        def show(progress: ProtectionProgress) -> None:
            phases = ", ".join(f"{n} {phase}" for phase, n in sorted(progress.phases.items(), key=lambda kv: -kv[1]))
            bar.update(task, completed=progress.settled, phases=shown(phases))

        return await client.wait_protected([r.vm for r in runs], timeout=timeout, on_progress=show)


def _each(
    vm: list[str] | None, cloud: str | None, command: Callable[[Client], Awaitable[list[CommandOutcome]]]
) -> None:
    """Send one command to every target (the Client asks them concurrently) and print one line per VM."""

    async def run() -> list[CommandOutcome]:
        return await command(await _client(load_settings(), vm, cloud))

    outcomes = run_async(run())
    if len(outcomes) == 1 and not outcomes[0].ok:
        fail(outcomes[0].message)
    for outcome in outcomes:
        if outcome.ok:
            phase = outcome.phase.value if outcome.phase else "?"
            say(f"{outcome.vm}: {outcome.message} (now {phase})")
        else:
            say((f"{outcome.vm}: {outcome.message}", "red"))
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


@app.command()
@guarded
def pause(vm: VMs = None, cloud: CloudOpt = None) -> None:
    """Suspend replication (Suspend-VMReplication); monitoring continues and shows the VM paused."""
    _each(vm, cloud, lambda c: c.pause(vm, cloud=cloud))


@app.command()
@guarded
def resume(vm: VMs = None, cloud: CloudOpt = None) -> None:
    """Resume a paused VM's replication, or retry a protection that failed to come up."""
    _each(vm, cloud, lambda c: c.resume(vm, cloud=cloud))


@app.command()
@guarded
def resync(
    vm: VMs = None,
    cloud: CloudOpt = None,
    at: Annotated[datetime | None, typer.Option("--at", help="Start at this time (UTC, within 7 days).")] = None,
) -> None:
    """Resynchronize the replica with the primary (block comparison; recovery points are rebuilt)."""
    _each(vm, cloud, lambda c: c.resync(vm, cloud=cloud, at=at))


@app.command()
@guarded
def policy(
    name: Annotated[str, typer.Argument(help="The replication policy to apply (see `hvdr policies`).")],
    vm: VMs = None,
    cloud: CloudOpt = None,
) -> None:
    """Apply another replication policy to protected VMs (Set-VMReplication)."""
    _each(vm, cloud, lambda c: c.change_policy(vm, name, cloud=cloud))


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
    _each(vm, cloud, lambda c: c.disable(vm, cloud=cloud, delete_replica=delete_replica))


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


def _render(statuses: list[ProtectionStatus]) -> Group:
    rows = _rows(statuses)
    headers = [c + (" (UTC)" if c == "last_replication" else "") for c in COLUMNS]
    return Group(
        Text(f"Protection — {len(statuses)} VM(s)", style="bold"),
        columns(headers, [[r[c] for c in COLUMNS] for r in rows], ["red" if r["alerts"] else None for r in rows]),
    )


def print_statuses(statuses: list[ProtectionStatus]) -> None:
    console.print(_render(statuses), soft_wrap=True)


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
