"""Recovery-plan actions: what a plan run is asked to do before and after each group, and what it records.

An action is a **script** (PowerShell on a named Hyper-V host over WinRM, with a timeout), a **manual** step (a
person does something, then ``hvdr approve RUN STEP`` or ``hvdr reject RUN STEP``; optionally with a timeout) or
a **delay**. Each becomes an :class:`ActionRecord` in the run's state and report: start, end, outcome, the
script's output (capped) and exit code, who decided a manual step and when.

A script that may have run is never sent again blindly: when a crash or a lost answer leaves unknown whether it
ran, the step ends ``outcome_unknown`` — unless the action is declared ``idempotent``, in which case it runs again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from hvdr.payloads import Durable
from hvdr.topology import PlanAction

ActionKind = Literal["script", "manual", "delay"]
When = Literal["before", "after"]
"""Before the group's VMs fail over (``pre_actions``) or after (``post_actions``)."""
ActionOutcome = Literal[
    "running", "waiting", "done", "approved", "failed", "rejected", "timed_out", "outcome_unknown", "skipped"
]
SUCCEEDED: frozenset[str] = frozenset({"done", "approved"})
SETTLED: frozenset[str] = SUCCEEDED | {"failed", "rejected", "timed_out", "outcome_unknown", "skipped"}

OUTPUT_CAP = 16_000
"""Characters of a script's output a record keeps (head and tail): enough for a report, small in a history."""


def capped(text: str, limit: int = OUTPUT_CAP) -> str:
    """``text`` when it fits, else its head and tail around a note of how much was cut."""
    if len(text) <= limit:
        return text
    keep = limit - 60
    head, tail = text[: keep // 2], text[-(keep - keep // 2) :]
    return f"{head}\n…[{len(text) - len(head) - len(tail)} characters cut]…\n{tail}"


class ActionSpec(Durable):
    """One declared action, resolved from the inventory (the script host's site) when the run starts."""

    name: str
    type: ActionKind
    group: str = ""
    when: When = "before"
    host: str | None = None
    site: str | None = None
    """The script host's site: the script runs on that site's task queue."""
    script: str | None = None
    timeout_s: float | None = None
    """script: real seconds it may run; manual: plan seconds to wait for a decision (None: until decided)."""
    idempotent: bool = False
    instructions: str | None = None
    seconds: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _flatten_params(cls, data: Any) -> Any:
        # Plan runs recorded before the actions were built kept each action's topology fields in ``params``.
        if isinstance(data, dict) and isinstance(data.get("params"), dict):
            data = {**data["params"], **{k: v for k, v in data.items() if k != "params"}}
        return data

    @classmethod
    def of(cls, action: PlanAction, group: str, when: When, site: str | None = None) -> ActionSpec:
        if action.type == "script":
            return cls(
                name=action.name,
                group=group,
                when=when,
                type="script",
                host=action.host,
                site=site,
                script=action.script,
                timeout_s=float(action.timeout_s),
                idempotent=action.idempotent,
            )
        if action.type == "manual":
            timeout = float(action.timeout_s) if action.timeout_s is not None else None
            return cls(
                name=action.name,
                group=group,
                when=when,
                type="manual",
                instructions=action.instructions,
                timeout_s=timeout,
            )
        return cls(name=action.name, group=group, when=when, type="delay", seconds=float(action.seconds))

    def describe(self) -> str:
        if self.type == "script":
            return f"script {self.name!r} on {self.host}"
        if self.type == "manual":
            return f"manual step {self.name!r}"
        return f"delay {self.name!r} ({self.seconds:g} s)"


class ActionRecord(Durable):
    """What became of one action in a run (its state while it runs, its line in the report after)."""

    name: str
    group: str
    when: When
    type: ActionKind
    host: str | None = None
    outcome: ActionOutcome = "running"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    detail: str = ""
    """One line: what happened, or why it failed."""
    output: str = ""
    """A script's output (stdout, capped by :func:`capped`), also when it failed."""
    exit_code: int | None = None
    attempts: int = 0
    """How often the script was sent (more than once only for an idempotent script)."""
    instructions: str | None = None
    deadline: datetime | None = None
    """A manual step's timeout, as a time: a decision after it comes too late."""
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome in SUCCEEDED


class Decision(Durable):
    """The argument of a plan run's ``decide`` update: ``hvdr approve RUN STEP`` / ``hvdr reject RUN STEP``."""

    step: str
    approve: bool
    by: str = Field(min_length=1)
    """Who decides: the client's identity (``HVDR_IDENTITY``, else ``<OS user>@<host name>``)."""
    reason: str | None = None


class DecisionResult(Durable):
    run: str
    step: str
    outcome: ActionOutcome
    by: str
    at: datetime
    message: str


DECIDE_UPDATE = "decide"
"""The update a run that executes actions accepts (its validator refuses what cannot be decided now)."""
UNKNOWN_STEP = "UnknownStep"
"""The ``decide`` update's refusal when the run has no such step."""
DECISION_REFUSED = "DecisionRefused"
"""The ``decide`` update's refusal of a step that exists but cannot be decided now (not manual, not waiting yet,
already decided, timed out)."""
