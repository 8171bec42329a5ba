"""A recovery plan's script action: an operator's PowerShell on a named host, sent once.

A script that ran and failed (non-zero exit, an error record, its timeout) is a result, with its output, not an
activity failure: nothing retries it. An error raised here means the script was not sent (the host refused the
connection, the credentials were wrong: the workflow may try again) or ``OutcomeUnknown`` (it was sent and the
answer was lost: it may have run). The workflow gives this activity a single attempt and decides itself
(:mod:`hvdr.workflows.actions`), so a worker that dies while the script runs never makes Temporal run it again.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from temporalio import activity

from hvdr.actions import capped
from hvdr.activities.common import HostCalls
from hvdr.activities.hosts import Hosts
from hvdr.hyperv.errors import ScriptFailed, ScriptTimedOut


class ScriptRequest(BaseModel):
    host: str
    script: str
    timeout_s: float
    step: str
    """The action's name (for the worker's log)."""


class ScriptRun(BaseModel):
    outcome: Literal["done", "failed", "timed_out"]
    exit_code: int | None = None
    output: str = ""
    """stdout, capped."""
    error: str | None = None
    duration_s: float | None = None


class ActionActivities:
    """Bound to one worker's hosts; registered on the site task queues."""

    def __init__(self, hosts: Hosts, calls: HostCalls | None = None) -> None:
        self.calls = calls or HostCalls(hosts)

    @activity.defn(name="plan_run_script")
    async def run_script(self, request: ScriptRequest) -> ScriptRun:
        host = await self.calls.host(request.host)

        def run() -> ScriptRun:
            try:
                result = host.run_script(request.script, request.timeout_s)
            except ScriptTimedOut as timed_out:
                return ScriptRun(outcome="timed_out", error=timed_out.message)
            except ScriptFailed as failed:
                return ScriptRun(
                    outcome="failed",
                    exit_code=failed.script_exit_code,
                    output=capped(failed.output),
                    error=failed.message,
                )
            return ScriptRun(
                outcome="done", exit_code=0, output=capped(result.stdout), duration_s=result.duration_seconds
            )

        activity.logger.info("running script %r on %s", request.step, request.host)
        return await self.calls.run(request.host, run)
