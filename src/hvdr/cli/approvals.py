"""``hvdr approve`` / ``hvdr reject``: decide a manual step a plan run waits for (who and when are recorded)."""

from __future__ import annotations

from typing import Annotated

import typer

from hvdr.actions import DecisionResult
from hvdr.cli.common import OutputFormat, emit, guarded, run_async, say
from hvdr.client import Client

Run = Annotated[str, typer.Argument(help="The plan run, e.g. plan/three-tier/1 (`hvdr runs` lists them).")]
Step = Annotated[str, typer.Argument(help="The manual step's name, as the plan declares it (e.g. switch-dns).")]
Output = Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")]


@guarded
def approve(
    run: Run,
    step: Step,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the run's record.")] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Approve a manual step the run waits for: the plan goes on. Your identity (HVDR_IDENTITY, else
    <OS user>@<host>) and the time go into the run's record."""
    _show(run_async(_decide(run, step, True, reason)), output)


@guarded
def reject(
    run: Run,
    step: Step,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the run's record and report.")] = None,
    output: Output = OutputFormat.table,
) -> None:
    """Reject a manual step the run waits for: the step fails and the plan acts as on any failed step."""
    _show(run_async(_decide(run, step, False, reason)), output)


async def _decide(run: str, step: str, approve: bool, reason: str | None) -> DecisionResult:
    client = await Client.connect()
    if approve:
        return await client.approve(run, step, reason=reason)
    return await client.reject(run, step, reason=reason)


def _show(result: DecisionResult, output: OutputFormat) -> None:
    if output is OutputFormat.table:
        say(result.message)
    else:
        emit(result, [], output)
