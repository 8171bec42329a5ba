"""The ``hvdr`` command: a thin shell over ``hvdr.Client`` and the inventory."""

from __future__ import annotations

import logging
from importlib.metadata import version

import typer

from hvdr.cli import (
    approvals,
    check,
    codec,
    demo,
    drill,
    failover,
    inventory,
    lab,
    ping,
    plan,
    protect,
    report,
    server,
    unplanned,
    worker,
)
from hvdr.cli.common import tolerant_streams
from hvdr.display import SafeLogFormatter
from hvdr.shutdown import exit_code, leave

app = typer.Typer(
    name="hvdr",
    help=(
        "Disaster recovery for Hyper-V Replica between two sites: protection, failover, failback and "
        "recovery plans as durable Temporal workflows."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(server.app, name="server")
app.command()(worker.worker)
app.command()(worker.up)
app.command()(ping.ping)
app.command()(demo.demo)
inventory.register(app)
app.add_typer(protect.app, name="protect")
app.command()(protect.status)
app.add_typer(check.app, name="check")
app.add_typer(failover.app, name="failover")
app.add_typer(plan.app, name="plan")
app.command()(failover.failback)
app.command()(failover.runs)
app.command()(failover.show)
app.command()(approvals.approve)
app.command()(approvals.reject)
unplanned.register(app)  # also `hvdr failover unplanned`
app.command()(report.report)
app.command()(report.reports)
app.add_typer(drill.app, name="drill")
app.add_typer(lab.app, name="lab")
app.command("codec-server")(codec.codec_server)


@app.command("version")
def show_version() -> None:
    """Print hvdr's version."""
    typer.echo(version("hvdr"))


def main() -> None:
    """Entry point: run the CLI, flush, then leave with os._exit (Temporal's exit crash, sdk-python #300)."""
    code = 0
    tolerant_streams()  # an ASCII-only terminal gets escapes for what it cannot show, never an exception
    handler = logging.StreamHandler()
    handler.setFormatter(SafeLogFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    try:
        app()
    except SystemExit as exc:
        code = exit_code(exc)
    leave(code)
