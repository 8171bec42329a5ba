"""The ``hvdr`` command: a thin shell over ``hvdr.Client`` and the inventory.

A run imports only the module of the command it runs (``hvdr status`` does not load the lab, the embedded
server's stack, SQLAlchemy or aiohttp): importing every command module took seconds of CPU per invocation, more
than the command itself. ``app`` (every command, for ``--help`` and the tests) is built when first asked for.
"""

from __future__ import annotations

import functools
import logging
import sys
from importlib.metadata import version

import typer

from hvdr.cli.common import tolerant_streams
from hvdr.display import SafeLogFormatter
from hvdr.shutdown import exit_code, leave


def build(command: str | None = None) -> typer.Typer:
    """The ``hvdr`` app: every command, or (``command``) only the top-level command or group of that name —
    an app with just ``version`` when there is none such."""
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

    def wants(*names: str) -> bool:
        return command is None or command in names

    if wants("server"):
        from hvdr.cli import server

        app.add_typer(server.app, name="server")
    if wants("worker", "up"):
        from hvdr.cli import worker

        app.command()(worker.worker)
        app.command()(worker.up)
    if wants("ping"):
        from hvdr.cli import ping

        app.command()(ping.ping)
    if wants("demo"):
        from hvdr.cli import demo

        app.command()(demo.demo)
    if wants("apply", "export", "discover"):
        from hvdr.cli import inventory

        inventory.register(app)
    if wants("protect", "status"):
        from hvdr.cli import protect

        app.add_typer(protect.app, name="protect")
        app.command()(protect.status)
    if wants("check"):
        from hvdr.cli import check

        app.add_typer(check.app, name="check")
    if wants("failover", "plan", "failback", "runs", "show", "recovery-points", "commit", "cancel", "reverse"):
        from hvdr.cli import failover, plan, unplanned

        app.add_typer(failover.app, name="failover")
        app.add_typer(plan.app, name="plan")
        app.command()(failover.failback)
        app.command()(failover.runs)
        app.command()(failover.show)
        unplanned.register(app)  # also `hvdr failover unplanned`
    if wants("approve", "reject"):
        from hvdr.cli import approvals

        app.command()(approvals.approve)
        app.command()(approvals.reject)
    if wants("report", "reports"):
        from hvdr.cli import report

        app.command()(report.report)
        app.command()(report.reports)
    if wants("drill"):
        from hvdr.cli import drill

        app.add_typer(drill.app, name="drill")
    if wants("lab"):
        from hvdr.cli import lab

        app.add_typer(lab.app, name="lab")
    if wants("codec-server"):
        from hvdr.cli import codec

        app.command("codec-server")(codec.codec_server)

    @app.command("version")
    def show_version() -> None:
        """Print hvdr's version."""
        typer.echo(version("hvdr"))

    return app


@functools.cache
def full_app() -> typer.Typer:
    return build()


def __getattr__(name: str) -> typer.Typer:
    if name == "app":
        return full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _for(argv: list[str]) -> typer.Typer:
    """The app for this command line: the named command's alone, else (no command, ``--help``, a typo) all."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command is None or command == "version":
        return full_app()
    app = build(command)
    return app if app.registered_groups or len(app.registered_commands) > 1 else full_app()


def main() -> None:
    """Entry point: run the CLI, flush, then leave with os._exit (Temporal's exit crash, sdk-python #300)."""
    code = 0
    tolerant_streams()  # an ASCII-only terminal gets escapes for what it cannot show, never an exception
    handler = logging.StreamHandler()
    handler.setFormatter(SafeLogFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    try:
        _for(sys.argv[1:])()
    except SystemExit as exc:
        code = exit_code(exc)
    leave(code)
