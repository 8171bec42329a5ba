"""The workflow kit: what every long-running hvdr workflow shares, so protection, failover, recovery plans and
drills read alike.

- :func:`run_activity` runs an activity on a site's task queue with one of the standard option sets
  (:data:`HOST_COMMAND`, :data:`HEAL`, :data:`MEASURE`, :data:`STEP`); :func:`reason` turns its failure into the
  host's words.
- :class:`Publisher` keeps the UI and ``hvdr status`` current — search attributes, memo, current details — and
  sends each only when it changed (every upsert is a history event, for every VM, forever).
- :class:`Commands` serializes operator commands as samples-python does: an update handler queues a typed
  command and waits; the main loop executes one at a time between its own steps, re-checking the command's
  validator when it takes it off the queue (an earlier command may have changed what is allowed).
- :func:`interruptible` runs a step (a monitoring tick, a heal) until it ends or a command arrives, so a command
  never waits behind a host that does not answer.
- :func:`step` is one step of a run: a span in the run's trace (the step's activities and host commands under
  it) and its duration in :data:`hvdr.telemetry.STEP_DURATION`; :func:`vm_replication` and
  :func:`drill_outcome` record the per-VM and drill metrics (:mod:`hvdr.telemetry`).
- :func:`drain` is the only way to finish or continue-as-new: it waits for every update handler while still
  executing the commands they queued. Waiting on ``all_handlers_finished`` alone hangs for good when an update is
  accepted during the step that triggers continue-as-new (its handler waits for the loop, the loop for it).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    from hvdr import telemetry
    from hvdr.activities import options
    from hvdr.replication import ReplicationHealth
    from hvdr.settings import site_task_queue

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ActivityOptions:
    """One of the activities layer's option sets (timeouts, heartbeat, capped retries) and what an interruption
    of the step does to the activity."""

    kind: options.ActivityOptions
    cancellation: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL


HOST_COMMAND = ActivityOptions(options.COMMAND)
"""An operator's or the bring-up's command to a host (never interrupted: commands run between steps)."""
HEAL = ActivityOptions(
    replace(options.COMMAND, retry=replace(options.COMMAND.retry, maximum_attempts=3)),
    ActivityCancellationType.ABANDON,
)
"""Auto-heal: three attempts, then an alert; the next tick decides again (a dead primary must not hold the run)."""
STEP = ActivityOptions(
    replace(
        options.COMMAND,
        retry=replace(options.COMMAND.retry, initial_interval=timedelta(seconds=1), maximum_attempts=3),
    )
)
"""A failover's forward step: a host that does not answer within three attempts fails the step (and the run
rolls back) rather than holding the VM down for ten minutes. Its compensation uses the patient HOST_COMMAND."""
MEASURE = ActivityOptions(options.MEASURE, ActivityCancellationType.ABANDON)
"""Measuring and healing are abandoned when a command interrupts them (both only read or look before acting):
with TRY_CANCEL the interrupted step would wait for the server to confirm the cancel of an activity."""


def reason(error: BaseException) -> str:
    """The innermost message of an activity failure (``str(ActivityError)`` says only "Activity task failed")."""
    cause: BaseException | None = error
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause)


async def run_activity(
    method: Callable[..., Awaitable[T]], argument: Any, *, site: str, summary: str, options: ActivityOptions
) -> T:
    """Run an activity on the site's task queue (where a worker can reach the site's hosts)."""
    result: T = await workflow.execute_activity_method(
        method,
        argument,
        task_queue=site_task_queue(site),
        cancellation_type=options.cancellation,
        summary=summary,
        **options.kind.kwargs(),
    )
    return result


class step:
    """One step of the run: a span ``step <name>`` (its activities' and host commands' spans under it) and
    its duration, outcome ``done`` / ``failed``, in :data:`hvdr.telemetry.STEP_DURATION`.

    Replay-safe: a replayed step emits nothing again, and its span keeps its id, so the worker that takes over
    from a killed one ends the step's span in the same trace. A class, not a generator: a step abandoned by an
    evicted workflow leaves no generator for the garbage collector to finalize (running code at a random
    moment, which trips CPython 3.11's AST recursion check, gh-106905)."""

    def __init__(self, name: str, **attributes: str) -> None:
        self.name, self.attributes = name, attributes
        self._span: trace.Span | None = None
        self._token: object = None

    async def __aenter__(self) -> None:
        self._started = workflow.now()
        if telemetry.replay_safe():
            info = workflow.info()
            attributes = {"hvdr.run": info.workflow_id, "hvdr.step": self.name, **self.attributes}
            self._span = trace.get_tracer("hvdr.workflows").start_span(f"step {self.name}", attributes=attributes)
            self._token = otel_context.attach(trace.set_span_in_context(self._span))

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        if isinstance(error, GeneratorExit):
            # The worker evicted the run (or is shutting down) and closes its coroutine outside the workflow's
            # event loop: the step did not end, and no workflow API may be called here. Whichever worker runs
            # the run next replays the step and ends its span there.
            return
        outcome = "done" if error is None else "failed"
        if self._span is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            if error is not None:
                self._span.set_status(Status(StatusCode.ERROR, reason(error)))
            self._span.end()
        seconds = (workflow.now() - self._started).total_seconds()
        _step_histogram().record(
            seconds, {"workflow": workflow.info().workflow_type, "step": self.name, "outcome": outcome}
        )


_histogram: tuple[Any, Any] | None = None


def _step_histogram() -> Any:
    """The run's step-duration histogram, made once per meter (a plan ends ten steps of every VM: a thousand VMs
    made ten thousand)."""
    global _histogram
    meter = workflow.metric_meter()
    if _histogram is None or _histogram[0] is not meter:
        _histogram = (meter, meter.create_histogram_float(telemetry.STEP_DURATION, "workflow step duration", "s"))
    return _histogram[1]


def vm_replication(vm: str, site: str, rpo_s: float | None, health: ReplicationHealth | None) -> None:
    """The VM's current RPO and replication health as gauges (replay-safe: nothing while replaying)."""
    meter, labels = workflow.metric_meter(), {"vm": vm, "site": site}
    if rpo_s is not None:
        meter.create_gauge_float(telemetry.RPO, "host seconds since the last replication", "s").set(rpo_s, labels)
    if health is not None and health in telemetry.HEALTH_VALUES:
        meter.create_gauge(telemetry.HEALTH, "0 Normal, 1 Warning, 2 Critical").set(
            telemetry.HEALTH_VALUES[health], labels
        )


def drill_outcome(plan: str, outcome: str) -> None:
    """Count a finished drill (``succeeded`` / ``failed``) of ``plan``: the drill workflow's last act."""
    counter = workflow.metric_meter().create_counter(telemetry.DRILLS, "finished drills")
    counter.add(1, {"plan": plan, "outcome": outcome})


def readiness_findings(scope: str, errors: int, warnings: int) -> None:
    """A scheduled check's findings by severity, as a gauge an alerting rule can watch (0 errors: ready)."""
    gauge = workflow.metric_meter().create_gauge(telemetry.READINESS, "findings of the last scheduled check")
    gauge.set(errors, {"scope": scope, "severity": "error"})
    gauge.set(warnings, {"scope": scope, "severity": "warning"})


class Publisher:
    """Search attributes, memo and current details, each sent only when its value changed."""

    def __init__(self) -> None:
        # A continued run starts with its predecessor's search attributes: no need to send them again.
        self._attributes: dict[str, object] = {
            pair.key.name: pair.value for pair in workflow.info().typed_search_attributes
        }
        self._memo: dict[str, Hashable] = {}
        self._memo_at: dict[str, datetime] = {}
        self._details: str | None = None

    def attributes(self, *pairs: tuple[SearchAttributeKey[str], str]) -> None:
        changed = [(key, value) for key, value in pairs if self._attributes.get(key.name) != value]
        if changed:
            workflow.upsert_search_attributes([key.value_set(value) for key, value in changed])
            self._attributes.update({key.name: value for key, value in changed})

    def memo(self, name: str, key: Hashable, value: Callable[[], object], *, refresh: timedelta) -> None:
        """Upsert memo ``name`` when ``key`` (a coarse digest of the value) changed, or ``refresh`` after the last."""
        now = workflow.now()
        last = self._memo_at.get(name)
        if name in self._memo and self._memo[name] == key and last is not None and now - last < refresh:
            return
        workflow.upsert_memo({name: value()})
        self._memo[name], self._memo_at[name] = key, now

    def details(self, text: str) -> None:
        if text != self._details:
            workflow.set_current_details(text)
            self._details = text


@dataclass(eq=False)
class _Command(Generic[R]):
    label: str
    check: Callable[[], None]
    action: Callable[[], Awaitable[R]]
    done: bool = False
    result: R | None = None
    error: ApplicationError | None = None


class Commands(Generic[R]):
    """Operator commands (updates), executed one at a time by the workflow's main loop."""

    def __init__(self) -> None:
        self._queue: deque[_Command[R]] = deque()

    def pending(self) -> bool:
        return bool(self._queue)

    async def submit(self, label: str, check: Callable[[], None], action: Callable[[], Awaitable[R]]) -> R:
        """Queue a command (from an update handler, after its validator passed) and wait for its result.

        ``check`` is the update's validator: it runs again when the command is taken off the queue. A refusal
        then, or a failed activity, fails the update (an ``ApplicationError``), never the workflow.
        """
        command = _Command(label, check, action)
        self._queue.append(command)
        await workflow.wait_condition(lambda: command.done)
        if command.error is not None:
            raise command.error
        assert command.result is not None
        return command.result

    async def run_all(self) -> bool:
        """Execute every queued command in order; True if there was any."""
        ran = False
        while self._queue:
            command = self._queue.popleft()
            ran = True
            try:
                command.check()
            except ValueError as refused:
                command.error = ApplicationError(str(refused), type="CommandRefused", non_retryable=True)
            else:
                try:
                    command.result = await command.action()
                except ActivityError as error:
                    command.error = ApplicationError(
                        f"{command.label} failed: {reason(error)}", type="CommandFailed", non_retryable=True
                    )
            command.done = True
        return ran


async def interruptible(step: Awaitable[None], interrupt: Callable[[], bool]) -> bool:
    """Run ``step`` until it ends or ``interrupt()`` turns true; then cancel it. True when it was interrupted.

    Only steps that may be abandoned half-way go here (measuring, healing: each activity checks the host's
    state first, so the next step decides again from what the host says).
    """
    task = asyncio.ensure_future(step)
    await workflow.wait_condition(lambda: task.done() or interrupt())
    if task.done():
        task.result()
        return False
    task.cancel()
    try:
        await task
    except BaseException as error:  # the cancellation, as asyncio's or as a cancelled activity
        if not is_cancelled_exception(error):
            raise
    return True


async def drain(commands: Commands[Any]) -> None:
    """Wait until every update handler has finished, executing the commands they queue meanwhile."""
    while True:
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() or commands.pending())
        if not await commands.run_all():
            return
