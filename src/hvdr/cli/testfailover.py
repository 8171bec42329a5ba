"""``hvdr failover test …``: start protected VMs' replicas as isolated test VMs, then clean them up."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

import typer

from hvdr.cli.common import OutputFormat, emit, fail, guarded, print_columns, run_async, say
from hvdr.client import Client
from hvdr.durations import parse_duration
from hvdr.failover import StepRecord
from hvdr.inventory.db import session_for
from hvdr.inventory.protection import vms_to_protect
from hvdr.settings import load_settings
from hvdr.testfailover import RecoveryPointChoice, TestFailoverReport, TestStepRecord

app = typer.Typer(
    help="Test failover: each VM's replica started as '<vm> - Test' on the mapped test network, verified, kept, "
    "then removed. Production replication goes on (its RPO is measured and reported).",
    invoke_without_command=True,
)


@app.callback()
@guarded
def test(
    ctx: typer.Context,
    vm: Annotated[list[str] | None, typer.Option("--vm", help="A protected VM (repeatable).")] = None,
    point: Annotated[
        str,
        typer.Option(
            "--point", help="latest, latest-app-consistent, a time (2026-12-01T10:00:00Z) or a recovery point id."
        ),
    ] = "latest",
    keep: Annotated[
        str | None,
        typer.Option(
            "--keep",
            help="How long the test VM is kept (90s, 30m, 8h, 3d), then removed; "
            "default: until `hvdr failover test cleanup`.",
        ),
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Test failover, one durable run per VM (testfailover/<vm>): preflight → Start-VMFailover -AsTest on the
    replica → connect the test network → start → verify → keep → Stop-VMFailover → confirm nothing is left.
    Prints each run's report once its test VM runs verified (exit 1 if any failed)."""
    if ctx.invoked_subcommand is not None:
        return
    if not vm:
        fail("name the VMs to test: --vm NAME (repeatable)", 2)
    try:
        choice = RecoveryPointChoice.parse(point)
        keep_s = parse_duration(keep, "--keep") if keep is not None else None
    except ValueError as exc:
        fail(str(exc), 2)
    with session_for(load_settings()) as session:
        names = vms_to_protect(session, vm, None)  # unknown names refused before anything starts
    reports = run_async(_test(names, choice, keep_s))
    _print(reports, output)
    if any(r.outcome == "failed" for r in reports):
        raise typer.Exit(1)


async def _test(names: list[str], point: RecoveryPointChoice, keep_s: float | None) -> list[TestFailoverReport]:
    client = await Client.connect()
    specs = [await client.test_failover_spec(name, point=point, keep_s=keep_s) for name in names]
    ids = [await client.start_test_failover(spec) for spec in specs]
    say("Test failover runs: ", ", ".join(ids))
    return list(await asyncio.gather(*(client.test_failover_ready(i) for i in ids)))


@app.command()
@guarded
def cleanup(
    vm: Annotated[list[str] | None, typer.Option("--vm", help="A VM under test (repeatable).")] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or yaml.")] = OutputFormat.table,
) -> None:
    """Remove the test VMs now (Stop-VMFailover on the replica host), confirm nothing is left behind, and print
    each run's final report (exit 1 unless every clean-up was confirmed)."""
    if not vm:
        fail("name the VMs whose test failover to clean up: --vm NAME (repeatable)", 2)

    async def cleaned() -> list[TestFailoverReport]:
        client = await Client.connect()
        return list(await asyncio.gather(*(client.test_failover_cleanup(name) for name in vm)))

    reports = run_async(cleaned())
    _print(reports, output)
    if any(not r.cleaned_up for r in reports):
        raise typer.Exit(1)


def _print(reports: list[TestFailoverReport], output: OutputFormat) -> None:
    if output is not OutputFormat.table:
        emit(reports, [], output)
        return
    for report in reports:
        print_test_report(report)


def print_steps(steps: Sequence[StepRecord | TestStepRecord]) -> None:
    """One row per step of a run: its outcome, start, duration and what it found."""
    rows = []
    for step in steps:
        seconds = (step.ended_at - step.started_at).total_seconds() if step.ended_at else None
        took = f"{seconds:.1f}" if seconds is not None else None
        rows.append([step.step.value, step.outcome, step.started_at.strftime("%H:%M:%S"), took, step.detail])
    print_columns(("step", "outcome", "started", "seconds", "detail"), rows)


def print_test_report(report: TestFailoverReport) -> None:
    """A test failover's report: where it stands, one row per step, production's RPO, the clean-up."""
    vm_state = f"{report.test_vm} on {report.target.host}" if report.test_vm else f"no test VM on {report.target.host}"
    say(
        (report.workflow_id, "bold"),
        ": ",
        report.phase,
        " — ",
        vm_state,
        " (",
        report.test_network or "no test network",
        ")",
    )
    print_steps(report.steps)
    rpo = report.rpo
    if rpo.samples:
        judged = {True: "within", False: "OVER", None: "no threshold for"}[rpo.within_threshold]
        threshold = f" {rpo.threshold_s:.0f} s" if rpo.threshold_s is not None else ""
        say(
            f"production RPO during the test: {rpo.min_s:.0f}–{rpo.max_s:.0f} s over {rpo.samples} measurement(s), "
            f"{judged} the policy's threshold{threshold}"
        )
    if report.outcome == "running" and report.keep_until is None:
        say("kept until `hvdr failover test cleanup --vm ", report.vm, "`")
    elif report.outcome == "running":
        say("kept until ", report.keep_until.strftime("%Y-%m-%d %H:%M:%S UTC") if report.keep_until else "")
    else:
        say(
            "clean-up: ",
            "confirmed, nothing left behind" if report.cleaned_up else "NOT confirmed",
            (f" ({report.cleanup_by})" if report.cleanup_by else ""),
        )
    if report.error:
        say("error: ", report.error)
