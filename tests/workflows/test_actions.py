"""Recovery-plan actions (scripts, manual steps, delays) run by the workflow kit against the lab's PowerShell.

A probe workflow (tests/workflows/actions_probe.py) runs them as a plan run does; the real activities run the
operators' scripts through the driver on the in-process lab; approvals go through ``hvdr.Client`` and the CLI.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ActivityError, ApplicationError, RetryState, TimeoutError, TimeoutType
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from hvdr.actions import ActionRecord, ActionSpec
from hvdr.activities.actions import ScriptRequest, ScriptRun
from hvdr.cli.main import app
from hvdr.client import Client
from hvdr.errors import ConfigError, Conflict, NotFound
from hvdr.hyperv.errors import OutcomeUnknown
from hvdr.hyperv.transport import PSResult
from hvdr.lab.seam import PSHost
from hvdr.settings import Settings
from hvdr.workflows.actions import _verdict
from tests.workflows.actions_probe import ActionsProbe, ProbeInput
from tests.workflows.lab_hosts import A1, B1, LabHosts, LabTransport, site_workers

Handle = WorkflowHandle[ActionsProbe, list[ActionRecord]]
LabFactory = Callable[..., LabHosts]


def script(
    name: str, body: str, group: str = "databases", *, idempotent: bool = False, timeout_s: float = 30, host: str = B1
) -> ActionSpec:
    return ActionSpec(
        name=name,
        group=group,
        when="after",
        type="script",
        host=host,
        site="site-a" if host == A1 else "site-b",
        script=body,
        timeout_s=timeout_s,
        idempotent=idempotent,
    )


def manual(name: str, group: str = "web", timeout_s: float | None = None) -> ActionSpec:
    return ActionSpec(
        name=name, group=group, when="after", type="manual", instructions="Point www at site-b.", timeout_s=timeout_s
    )


@asynccontextmanager
async def probe(
    client: TemporalClient, lab: LabHosts, actions: list[ActionSpec], time_scale: float = 100.0
) -> AsyncIterator[Handle]:
    queue = f"tq-{uuid.uuid4()}"
    workers = site_workers(client, queue, lab, workflows=[ActionsProbe])
    async with workers[0], workers[1], workers[2]:
        yield await client.start_workflow(
            ActionsProbe.run,
            ProbeInput(groups=["databases", "web"], actions=actions, time_scale=time_scale),
            id=f"plan/probe-{uuid.uuid4().hex[:8]}/1",
            task_queue=queue,
        )


async def until(handle: Handle, step: str, outcome: str) -> list[ActionRecord]:
    for _ in range(200):
        records = await handle.query(ActionsProbe.state)
        if any(r.name == step and r.outcome == outcome for r in records):
            return records
        if any(r.outcome in ("failed", "timed_out", "outcome_unknown", "rejected") for r in records):
            break
        await asyncio.sleep(0.05)
    raise AssertionError(f"{step} never became {outcome}: {records}")


def by_name(records: list[ActionRecord]) -> dict[str, ActionRecord]:
    return {r.name: r for r in records}


async def test_scripts_delay_and_decisions_in_order_with_who_and_when(
    env: WorkflowEnvironment, lab_hosts: LabFactory, settings_for: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = lab_hosts("db-01")
    actions = [
        script("check-sql", "Get-VM -Name db-01 | Select-Object -ExpandProperty Name\nWrite-Output 'sql ok'", host=A1),
        ActionSpec(name="settle", group="web", when="before", type="delay", seconds=60),
        manual("switch-dns"),
        manual("confirm-dns"),
    ]
    alice = Client(env.client, settings_for.model_copy(update={"identity_override": "alice@ops"}))
    async with probe(env.client, lab, actions) as handle:
        run = handle.id
        await until(handle, "switch-dns", "waiting")
        with pytest.raises(NotFound, match=r"has no step 'switch-db' \(its manual steps: switch-dns, confirm-dns\)"):
            await alice.approve(run, "switch-db")
        with pytest.raises(Conflict, match=r"'check-sql' .* is a script action: only manual steps wait"):
            await alice.approve(run, "check-sql")
        with pytest.raises(
            Conflict,
            match=r"'confirm-dns' .* not waiting for a decision: it has not started yet \(it runs after group 'web'\)",
        ):
            await alice.approve(run, "confirm-dns")
        with pytest.raises(ConfigError, match="a reason is at most 1000 characters"):
            await alice.reject(run, "switch-dns", reason="x" * 1001)
        approved = await alice.approve(run, "Switch-DNS")  # step names are case-insensitive
        assert (approved.step, approved.outcome, approved.by) == ("switch-dns", "approved", "alice@ops")
        with pytest.raises(Conflict, match=r"'switch-dns' .* was already approved by alice@ops at 20"):
            await alice.reject(run, "switch-dns", reason="changed my mind")
        await until(handle, "confirm-dns", "waiting")
        env_vars = {
            "HVDR_HOME": str(settings_for.home),
            "HVDR_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "HVDR_IDENTITY": "bob@noc",
        }
        # The CLI in this process (a subprocess costs seconds of imports), on a thread: it runs its own event loop.
        args = ["reject", run, "confirm-dns", "--reason", "DNS \x1b[31mstill old"]
        done = await asyncio.to_thread(CliRunner().invoke, app, args, env=env_vars)
        assert done.exit_code == 0, done.output
        assert "'confirm-dns'" in done.stdout and "rejected by bob@noc: DNS \\x1b[31mstill old" in done.stdout
        records = by_name(await handle.result())
    check = records["check-sql"]
    assert (check.outcome, check.exit_code, check.output) == ("done", 0, "db-01\r\nsql ok\r\n")
    assert records["settle"].outcome == "done"
    assert records["settle"].started_at is not None and records["settle"].ended_at is not None
    assert check.ended_at is not None and check.ended_at <= records["settle"].started_at
    dns, confirm = records["switch-dns"], records["confirm-dns"]
    assert (dns.outcome, dns.decided_by, dns.reason) == ("approved", "alice@ops", None)
    assert (confirm.outcome, confirm.decided_by, confirm.reason) == ("rejected", "bob@noc", "DNS \x1b[31mstill old")
    assert dns.decided_at is not None and confirm.decided_at is not None and dns.decided_at <= confirm.decided_at
    assert sum("sql ok" in s for s in lab.transports[A1].scripts) == 1
    with pytest.raises(Conflict, match=f"^{run} has ended \\(completed\\): no step of it waits"):
        await alice.approve(run, "confirm-dns")
    with pytest.raises(NotFound, match=r"^no run 'plan/nope/1': `hvdr runs` lists them$"):
        await alice.reject("plan/nope/1", "x")


@pytest.mark.parametrize(
    ("body", "outcome", "exit_code", "output", "error"),
    [
        ("Write-Output 'checking db-01'\nexit 3", "failed", 3, "checking db-01\r\n", "exited with code 3"),
        (  # Windows' default preference: the error is written, the script goes on and exits 0 — still a failure
            "$ErrorActionPreference = 'Continue'\nWrite-Output 'before'\nWrite-Error 'db-01 is not up'\n"
            "Write-Output 'after'",
            "failed",
            0,
            "before\r\nafter\r\n",
            "wrote an error (exit code 0): Write-Error 'db-01 is not up' : db-01 is not up",
        ),
        (
            "Write-Output 'before'\nGet-VM -Name nosuch\nWrite-Output 'never'",
            "failed",
            1,
            "before\r\n",
            'name "nosuch"',
        ),
        ("Start-Sleep -Seconds 60", "timed_out", None, "", "still running after 1 s and was stopped"),
    ],
    ids=["exit-code", "error-record", "cmdlet-error-stops", "timeout"],
)
async def test_a_failed_script_fails_its_step_with_output_and_stops_the_rest(
    env: WorkflowEnvironment,
    lab_hosts: LabFactory,
    body: str,
    outcome: str,
    exit_code: int | None,
    output: str,
    error: str,
) -> None:
    lab = lab_hosts("db-01")
    async with probe(
        env.client, lab, [script("check-sql", body, timeout_s=1), manual("switch-dns", group="databases")]
    ) as handle:
        records = by_name(await handle.result())
    failed = records["check-sql"]
    assert (failed.outcome, failed.exit_code, failed.output, failed.attempts) == (outcome, exit_code, output, 1)
    assert error in failed.detail and B1 in failed.detail
    assert (records["switch-dns"].outcome, records["switch-dns"].detail) == (
        "skipped",
        "not run: check-sql did not succeed",
    )


class LosesFirstAnswer(LabTransport):
    """Runs each script, then loses the answer of the first one (the connection dropped after it ran)."""

    def __init__(self, host: PSHost) -> None:
        super().__init__(host)
        self.lost = False

    def run(self, script: str, *, timeout: float | None = None) -> PSResult:
        result = super().run(script, timeout=timeout)
        if not self.lost and "marker" in script:
            self.lost = True
            raise OutcomeUnknown("the connection was lost after the command was sent; it may have run", host=self.host)
        return result


@pytest.mark.parametrize("idempotent", [False, True], ids=["sent-once", "idempotent-sent-again"])
async def test_a_script_whose_answer_was_lost_is_not_sent_again_unless_idempotent(
    env: WorkflowEnvironment, lab_hosts: LabFactory, idempotent: bool
) -> None:
    lab = lab_hosts("db-01")
    transport = lab.use_transport(B1, LosesFirstAnswer)
    body = "Write-Output 'marker'"
    async with probe(env.client, lab, [script("flush-dns", body, idempotent=idempotent)]) as handle:
        [record] = await handle.result()
    sent = sum("marker" in s for s in transport.scripts)
    if idempotent:
        assert (record.outcome, record.attempts, sent, record.output) == ("done", 2, 2, "marker\r\n")
        assert "run again after an unknown outcome" in record.detail
    else:
        assert (record.outcome, record.attempts, sent) == ("outcome_unknown", 1, 1)
        assert "the script may have run" in record.detail and "does not send it again" in record.detail


async def test_a_manual_step_times_out_clearly_and_a_late_decision_is_refused(
    env: WorkflowEnvironment, lab_hosts: LabFactory, settings_for: Settings
) -> None:
    lab = lab_hosts("db-01")
    async with probe(env.client, lab, [manual("switch-dns", timeout_s=30)], time_scale=100) as handle:
        [record] = await handle.result()
        with pytest.raises(Conflict, match="has ended"):
            await Client(env.client, settings_for).approve(handle.id, "switch-dns")
    assert (record.outcome, record.decided_by) == ("timed_out", None)
    assert record.detail == "nobody approved or rejected it within 30 s"
    assert record.deadline is not None and record.ended_at is not None and record.ended_at >= record.deadline


async def test_an_unreachable_host_is_tried_again_then_fails_saying_the_script_did_not_run(
    time_env: WorkflowEnvironment, lab_hosts: LabFactory
) -> None:
    lab = lab_hosts("db-01")
    down = lab.backend.add_fault("host_down", host=B1).id
    async with probe(time_env.client, lab, [script("check-sql", "Write-Output 'x'")]) as handle:
        [record] = await handle.result()
    lab.heal(down)
    assert (record.outcome, record.attempts) == ("failed", 3)
    assert record.detail.startswith("the script was not run: ") and "cannot connect" in record.detail


def _activity_error(cause: BaseException) -> ActivityError:
    error = ActivityError(
        "activity failed",
        scheduled_event_id=1,
        started_event_id=2,
        identity="w",
        activity_type="plan_run_script",
        activity_id="1",
        retry_state=RetryState.MAXIMUM_ATTEMPTS_REACHED,
    )
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("cause", "verdict"),
    [
        (TimeoutError("t", type=TimeoutType.HEARTBEAT, last_heartbeat_details=[]), "unknown"),  # the worker died
        (TimeoutError("t", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[]), "unknown"),
        (TimeoutError("t", type=TimeoutType.SCHEDULE_TO_START, last_heartbeat_details=[]), "failed"),  # no worker
        (ApplicationError("lost", type="OutcomeUnknown"), "unknown"),
        (ApplicationError("refused", type="HostUnreachable"), "retry"),
        (ApplicationError("401", type="AuthenticationFailed", non_retryable=True), "failed"),
        (ApplicationError("bug", type="KeyError"), "unknown"),  # not known to happen before sending
    ],
)
def test_what_an_activity_failure_says_about_whether_the_script_ran(cause: BaseException, verdict: Any) -> None:
    assert _verdict(_activity_error(cause)) == verdict


async def test_a_worker_that_dies_while_its_script_runs_leaves_it_outcome_unknown_never_sent_twice(
    env: WorkflowEnvironment, lab_hosts: LabFactory
) -> None:
    lab = lab_hosts("db-01")

    def dies_after_sending(original: Callable[..., Any]) -> Callable[..., Any]:
        @activity.defn(name="plan_run_script")
        async def plan_run_script(request: ScriptRequest) -> ScriptRun:
            await original(request)  # the script ran on the host; then the worker stops answering (no heartbeat)
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        return plan_run_script

    queue = f"tq-{uuid.uuid4()}"
    workers = site_workers(env.client, queue, lab, workflows=[ActionsProbe], wrap={"run_script": dies_after_sending})
    async with workers[0], workers[1], workers[2]:
        handle = await env.client.start_workflow(
            ActionsProbe.run,
            ProbeInput(groups=["databases"], actions=[script("flush-dns", "Write-Output 'marker'")], heartbeat_s=1),
            id=f"plan/probe-{uuid.uuid4().hex[:8]}/1",
            task_queue=queue,
        )
        [record] = await handle.result()
    assert (record.outcome, record.attempts) == ("outcome_unknown", 1)
    assert "the script may have run (the worker running it stopped answering (heartbeat timeout))" in record.detail
    assert sum("marker" in s for s in lab.transports[B1].scripts) == 1
