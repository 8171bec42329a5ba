"""Recovery-plan actions inside a workflow: scripts, manual steps (approve / reject) and delays.

The owning workflow (the plan run) keeps the records in its state and calls :meth:`Actions.run` before and
after each group; it routes its ``decide`` update here::

    self.actions = Actions(spec.actions, self.state.actions, time_scale=spec.time_scale, notify=publisher.details)

    @workflow.update(name=DECIDE_UPDATE)
    async def decide(self, decision: Decision) -> DecisionResult:
        return self.actions.decide(decision)

    @decide.validator
    def _check_decision(self, decision: Decision) -> None:
        self.actions.check(decision)

    failed = await self.actions.run(group.name, "before")   # None: every action of the group succeeded

A script gets one activity attempt at a time and this module decides what a failure means
(:func:`_verdict`): an error raised before the script was sent is retried a few times; one after it may have
been sent (a lost answer, a worker that died while it ran) leaves the step ``outcome_unknown`` — the script is
sent again only when it is declared idempotent. A script that ran and failed is never retried.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutType, is_cancelled_exception
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from hvdr.actions import DECISION_REFUSED, UNKNOWN_STEP, ActionRecord, ActionSpec, Decision, DecisionResult, When
    from hvdr.activities import options
    from hvdr.activities.actions import ActionActivities, ScriptRequest, ScriptRun
    from hvdr.settings import site_task_queue

from hvdr.workflows.kit import reason

SCRIPT_ATTEMPTS = 3
"""How often a script is tried when the host could not be reached (never sent), or — idempotent only — when
its outcome was unknown."""
NOT_SENT = frozenset(
    {"HostUnreachable", "WinRMServiceError", "WinRMTimeout", "AuthenticationFailed", "ConfigError", "NotFound"}
    | {"InvalidParameter"}
)
"""Errors the driver raises only before a command leaves (after, it raises OutcomeUnknown): the script did not run."""
RETRY_BACKOFF = timedelta(seconds=5)

Verdict = Literal["retry", "failed", "unknown"]


def _why(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ActivityTimeout):
        return {
            TimeoutType.HEARTBEAT: "the worker running it stopped answering (heartbeat timeout)",
            TimeoutType.START_TO_CLOSE: "it did not finish within its time budget",
            TimeoutType.SCHEDULE_TO_START: "no worker of the host's site took it (is the site's worker running?)",
        }.get(cause.type or TimeoutType.START_TO_CLOSE, f"activity timeout ({cause.type})")
    return reason(error)


def _verdict(error: ActivityError) -> Verdict:
    cause = error.cause
    if isinstance(cause, ActivityTimeout):
        # Never started (no worker of the site took it): not sent. Otherwise the worker may have sent it, then died.
        return "failed" if cause.type is TimeoutType.SCHEDULE_TO_START else "unknown"
    if isinstance(cause, ApplicationError) and cause.type in NOT_SENT:
        return "failed" if cause.non_retryable else "retry"
    return "unknown"


class Actions:
    """Runs the actions of one plan run and keeps their records (the run's state owns the list; a record is
    added when its action is reached)."""

    def __init__(
        self,
        declared: Sequence[ActionSpec],
        records: list[ActionRecord],
        *,
        time_scale: float = 1.0,
        notify: Callable[[str], None] | None = None,
        heartbeat: timedelta = options.COMMAND.heartbeat or timedelta(seconds=45),
    ) -> None:
        self.declared = list(declared)
        self.heartbeat = heartbeat
        """How soon a worker that stopped answering while a script ran is noticed (the script then ends
        outcome unknown)."""
        """Every action of the plan (to tell an unknown step from one not reached yet)."""
        self.records = records
        self.time_scale = time_scale
        self.notify = notify or (lambda text: None)

    async def run(
        self, group: str, when: When, actions: Sequence[ActionSpec] | None = None, *, skip: str | None = None
    ) -> ActionRecord | None:
        """Run the group's actions before or after its VMs (by default the declared ones) in order and return the
        first that did not succeed; those after it are recorded as skipped. With ``skip`` (the reason: the
        plan stops, a dry run) nothing runs and every action is recorded as skipped."""
        if actions is None:
            actions = [a for a in self.declared if a.group == group and a.when == when]
        failed: ActionRecord | None = None
        for spec in actions:
            record = ActionRecord(
                name=spec.name,
                group=group,
                when=when,
                type=spec.type,
                host=spec.host,
                instructions=spec.instructions,
                outcome="running",
                started_at=workflow.now(),
            )
            self.records.append(record)
            if skip is not None or failed is not None:
                record.outcome, record.ended_at = "skipped", record.started_at
                record.detail = (
                    skip if skip is not None else f"not run: {failed.name if failed else ''} did not succeed"
                )
                continue
            await self.execute(spec, record)
            if not record.succeeded:
                failed = record
        return failed

    async def execute(self, spec: ActionSpec, record: ActionRecord) -> bool:
        """Run one action into its record; True when it succeeded (done, approved)."""
        record.outcome, record.started_at = "running", record.started_at or workflow.now()
        if spec.type == "script":
            await self._script(spec, record)
        elif spec.type == "manual":
            await self._manual(spec, record)
        else:
            await self._delay(spec, record)
        record.ended_at = record.ended_at or workflow.now()
        return record.succeeded

    # -- approvals ------------------------------------------------------------------------------------------

    def check(self, decision: Decision) -> None:
        """The ``decide`` update's validator: refuse, with the reason, what cannot be decided now."""
        run = workflow.info().workflow_id
        record = self._find(decision.step)
        verb = "approve" if decision.approve else "reject"
        if record is None:
            wanted = decision.step.strip().lower()
            declared = next((a for a in self.declared if a.name.lower() == wanted), None)
            if declared is None:
                manual = [a.name for a in self.declared if a.type == "manual"]
                steps = f"its manual steps: {', '.join(manual)}" if manual else "its plan has no manual steps"
                raise _refused(f"{run} has no step {decision.step!r} ({steps})", UNKNOWN_STEP)
            if declared.type == "manual":
                raise _refused(
                    f"step {declared.name!r} of {run} is not waiting for a decision: it has not started yet (it runs "
                    f"{declared.when} group {declared.group!r})"
                )
            record = ActionRecord(name=declared.name, group=declared.group, when=declared.when, type=declared.type)
        if record.type != "manual":
            raise _refused(
                f"step {record.name!r} of {run} is a {record.type} action: only manual steps wait for a decision"
            )
        if record.decided_at is not None:
            what = "approved" if record.outcome == "approved" else "rejected"
            raise _refused(
                f"step {record.name!r} of {run} was already {what} by {record.decided_by} at {_when(record.decided_at)}"
            )
        if record.outcome == "timed_out":
            raise _refused(
                f"step {record.name!r} of {run} timed out at {_when(record.ended_at)} without a decision: "
                f"too late to {verb} it"
            )
        if record.outcome != "waiting":
            was = record.outcome.replace("_", " ") + (f" ({record.detail})" if record.detail else "")
            raise _refused(f"step {record.name!r} of {run} is not waiting for a decision: it was {was}")

    def decide(self, decision: Decision) -> DecisionResult:
        """The ``decide`` update's handler (after :meth:`check`): record the decision, who and when."""
        record = self._find(decision.step)
        assert record is not None
        now = workflow.now()
        record.decided_by, record.decided_at, record.ended_at = decision.by, now, now
        record.reason = decision.reason
        record.outcome = "approved" if decision.approve else "rejected"
        because = f": {decision.reason}" if decision.reason else ""
        record.detail = f"{record.outcome} by {decision.by}{because}"
        run = workflow.info().workflow_id
        return DecisionResult(
            run=run,
            step=record.name,
            outcome=record.outcome,
            by=decision.by,
            at=now,
            message=f"step {record.name!r} of {run} {record.outcome} by {decision.by}{because}",
        )

    # -- the kinds of action --------------------------------------------------------------------------------

    async def _script(self, spec: ActionSpec, record: ActionRecord) -> None:
        assert spec.host and spec.site and spec.script is not None and spec.timeout_s
        request = ScriptRequest(host=spec.host, script=spec.script, timeout_s=spec.timeout_s, step=spec.name)
        self.notify(f"{spec.when} {spec.group}: running script **{spec.name}** on {spec.host}")
        unknown: str | None = None
        while True:
            record.attempts += 1
            try:
                result: ScriptRun = await workflow.execute_activity_method(
                    ActionActivities.run_script,
                    request,
                    task_queue=site_task_queue(spec.site),
                    summary=f"script {spec.name} on {spec.host}",
                    start_to_close_timeout=timedelta(seconds=spec.timeout_s) + options.COMMAND.start_to_close,
                    heartbeat_timeout=self.heartbeat,
                    schedule_to_start_timeout=options.COMMAND.schedule_to_start,
                    retry_policy=RetryPolicy(maximum_attempts=1),  # this loop decides; Temporal never re-sends
                )
            except ActivityError as error:
                if is_cancelled_exception(error):
                    raise
                verdict, why = _verdict(error), _why(error)
                if verdict == "unknown":
                    unknown = why
                    if not spec.idempotent or record.attempts >= SCRIPT_ATTEMPTS:
                        record.outcome = "outcome_unknown"
                        record.detail = (
                            f"{spec.host}: the script may have run ({why}); hvdr does not send it again unless the "
                            "action is idempotent: check on the host, then retry the plan or finish by hand"
                        )
                        return
                    workflow.logger.warning(
                        "script %s: outcome unknown (%s); idempotent, running it again", spec.name, why
                    )
                    continue
                if verdict == "retry" and record.attempts < SCRIPT_ATTEMPTS:
                    await workflow.sleep(RETRY_BACKOFF * record.attempts)
                    continue
                record.outcome = "failed"
                record.detail = f"the script was not run: {why}"
                return
            record.output, record.exit_code = result.output, result.exit_code
            if result.outcome == "done":
                record.outcome = "done"
                ran_again = f" (run again after an unknown outcome: {unknown})" if unknown else ""
                record.detail = f"exit code 0 on {spec.host}{ran_again}"
            else:
                record.outcome = "timed_out" if result.outcome == "timed_out" else "failed"
                record.detail = result.error or f"exit code {result.exit_code}"
            return

    async def _manual(self, spec: ActionSpec, record: ActionRecord) -> None:
        run = workflow.info().workflow_id
        record.outcome = "waiting"
        timeout = timedelta(seconds=spec.timeout_s / self.time_scale) if spec.timeout_s else None
        record.deadline = workflow.now() + timeout if timeout else None
        self.notify(
            f"{spec.when} {spec.group}: waiting for **{spec.name}** — `hvdr approve {run} {spec.name}` "
            f"or `hvdr reject {run} {spec.name}`"
        )
        with contextlib.suppress(TimeoutError):  # asyncio's (the builtin)
            await workflow.wait_condition(lambda: record.decided_at is not None, timeout=timeout)
        if record.decided_at is None:  # a decision in the same task as the timer still counts (it was accepted)
            record.outcome = "timed_out"
            record.ended_at = workflow.now()
            record.detail = f"nobody approved or rejected it within {spec.timeout_s:g} s"

    async def _delay(self, spec: ActionSpec, record: ActionRecord) -> None:
        seconds = spec.seconds or 0.0
        self.notify(f"{spec.when} {spec.group}: waiting {seconds:g} s ({spec.name})")
        if seconds > 0:
            await workflow.sleep(timedelta(seconds=seconds / self.time_scale))
        record.outcome, record.detail = "done", f"waited {seconds:g} s"

    # -- helpers --------------------------------------------------------------------------------------------

    def _find(self, step: str) -> ActionRecord | None:
        wanted = step.strip().lower()
        return next((r for r in reversed(self.records) if r.name.lower() == wanted), None)


def _refused(message: str, kind: str = DECISION_REFUSED) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "an unknown time"
