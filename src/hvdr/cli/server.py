"""``hvdr server``: the embedded Temporal server (start, status, stop)."""

from __future__ import annotations

from typing import Annotated

import typer

from hvdr.cli.common import OutputFormat, emit, guarded, run_async, say
from hvdr.runtime import temporal_server
from hvdr.runtime.temporal_server import ServerStatus
from hvdr.settings import load_settings

app = typer.Typer(
    help="The embedded Temporal server: durable runs, their history and the web UI, on this machine.",
    no_args_is_help=True,
)


def _show(status: ServerStatus, fmt: OutputFormat) -> None:
    if fmt is not OutputFormat.table:
        emit(status, [], fmt)
        return
    state = ("up", "green") if status.up else ("down", "red")
    say(f"Temporal  {status.address} (namespace {status.namespace}): ", state)
    ui = "reachable" if status.ui_reachable else "not reachable"
    say(f"Web UI    {status.ui_url} ({ui})")
    say(f"Database  {status.database or 'none yet'}")
    if status.managed:
        say(f"Process   pid {status.pid}, started {status.started_at:%Y-%m-%d %H:%M:%S %Z}")
        say(f"Log       {status.log_file}")
    elif status.up:
        say("Process   not started by this hvdr home (hvdr uses it as it is)")


@app.command()
@guarded
def start(
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Stay attached (for systemd or another supervisor).")
    ] = False,
) -> None:
    """Start the embedded Temporal server in the background, unless one already answers.

    State lives in a SQLite file in the hvdr home (HVDR_HOME, default ~/.local/share/hvdr), so
    completed runs survive a restart. hvdr's search attributes are registered on every start.
    """
    settings = load_settings()
    if foreground:
        say(f"Starting Temporal at {settings.temporal.address}; web UI at {settings.temporal.ui_url}")
    status, started = run_async(temporal_server.start(settings, foreground=foreground))
    if foreground:
        say("Temporal stopped.")
        return
    if started:
        say(f"Started Temporal at {status.address} (pid {status.pid}).")
    else:
        say(f"Temporal already answers at {status.address}; not starting a second server.")
    say(f"Web UI: {status.ui_url}")


@app.command()
@guarded
def status(
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Show the server's address, web UI, database file and whether it is up (exit 1 when down)."""
    result = run_async(temporal_server.status(load_settings()))
    _show(result, output)
    if not result.up:
        raise typer.Exit(1)


@app.command()
@guarded
def stop() -> None:
    """Stop the embedded server that `hvdr server start` started. Runs stay in the database.

    The recorded process is signalled only while it is still that server (its command line and start time);
    a PID that now belongs to another process is left alone and the stale record removed.
    """
    outcome, pid = temporal_server.stop(load_settings())
    if outcome == "stopped":
        say(f"Stopped the embedded Temporal server (pid {pid}).")
    elif outcome == "stale":
        say(
            f"No embedded Temporal server was running: the recorded pid {pid} now belongs to another process, "
            "which was left alone; removed the stale record."
        )
    else:
        say("No embedded Temporal server was running.")
