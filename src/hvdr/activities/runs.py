"""Activities that talk to other hvdr runs: an operation asks the VM's protection run to stand by, then to go on;
a protection run registers with (and leaves) its primary host's monitor.

The stand-by is the VM's claim: one operation at a time holds a VM, whatever its kind. Any operation run claims
it by running ``protection_stand_by`` (``StandBy(vm, begin=FailoverBegin(operation=<its workflow id>))``) before
it changes anything, and releases it with ``protection_go_on``; a claim refused because another operation holds
the VM fails with ``OperationConflict`` naming that operation (non-retryable), and ``None`` means the VM is not
protected. The protection run's validator makes the claim atomic: two operations started at once cannot both
hold the VM. (Clients refuse earlier, before a run starts: :meth:`hvdr.client.Client.operation_conflict`.)

A workflow cannot send an update to another workflow, and the protection run must *accept* the stand-by, so the
operation sends it from an activity with the worker's Temporal client. Both updates are idempotent in the
protection run (the same operation begins once).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from hvdr.monitor import MonitorInput, Unwatch, Watch, monitor_workflow_id
from hvdr.protection import CommandResult, FailoverBegin, FailoverEnd, protection_workflow_id
from hvdr.visibility import search_attributes


class StandBy(BaseModel):
    vm: str
    begin: FailoverBegin


class GoOn(BaseModel):
    vm: str
    end: FailoverEnd


class Protected(BaseModel):
    vm: str


async def _holder(handle: WorkflowHandle[Any, Any]) -> str | None:
    """The operation that holds the VM, as its protection run says (None when none does or it cannot say)."""
    try:
        details = await handle.query("details")
    except (RPCError, WorkflowQueryFailedError):
        return None
    holder = details.get("failover_operation") if isinstance(details, dict) else None
    return str(holder) if holder else None


class RunLinks:
    """Registered on the workflow task queue's worker (it needs only Temporal, no host)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def _update(self, vm: str, update: str, argument: BaseModel) -> CommandResult | None:
        handle = self.client.get_workflow_handle(protection_workflow_id(vm))
        try:
            description = await handle.describe()
        except RPCError:
            return None
        if description.status is not WorkflowExecutionStatus.RUNNING:
            return None
        try:
            result: CommandResult = await handle.execute_update(update, argument, result_type=CommandResult)
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            message = getattr(cause, "message", None) or str(cause)
            holder = await _holder(handle)
            if holder is not None and holder != getattr(argument, "operation", None):
                message = f"{vm} is held by another operation, {holder}: wait for it to end (`hvdr show {holder}`)"
            raise ApplicationError(message, type="OperationConflict", non_retryable=True) from None
        return result

    @activity.defn(name="protection_stand_by")
    async def stand_by(self, request: StandBy) -> CommandResult | None:
        """The protection run stops commanding the hosts; None when the VM has no running protection."""
        return await self._update(request.vm, "begin_failover", request.begin)

    @activity.defn(name="protection_go_on")
    async def go_on(self, request: GoOn) -> CommandResult | None:
        """The protection run monitors again, in the new direction when replication was reversed."""
        return await self._update(request.vm, "end_failover", request.end)

    @activity.defn(name="protection_running")
    async def protected(self, request: Protected) -> bool:
        """Whether the VM has a running protection run (a read: a plan's dry run asks it)."""
        handle = self.client.get_workflow_handle(protection_workflow_id(request.vm))
        try:
            description = await handle.describe()
        except RPCError:
            return False
        return description.status is WorkflowExecutionStatus.RUNNING

    @activity.defn(name="monitor_watch")
    async def watch(self, request: Watch) -> str:
        """Register a VM with its host's monitor, starting the monitor if it is not running (signal-with-start:
        one monitor per host however many runs register at once). Returns the monitor's workflow id."""
        handle = await self.client.start_workflow(
            "Monitor",
            MonitorInput.new(request.host, request.site),
            id=monitor_workflow_id(request.host),
            task_queue=activity.info().task_queue,
            start_signal="watch",
            start_signal_args=[request],
            search_attributes=search_attributes("monitor", site=request.site),
            static_summary=f"monitor protected VMs on {request.host}",
            task_timeout=timedelta(minutes=1),  # as protection runs' (hvdr.client.FIRST_TASK_TIMEOUT)
        )
        return handle.id

    @activity.defn(name="monitor_unwatch")
    async def unwatch(self, request: Watch) -> bool:
        """Take a VM off its host's monitor; False when no monitor runs there (nothing watches it anyway)."""
        handle = self.client.get_workflow_handle(monitor_workflow_id(request.host))
        try:
            await handle.signal("unwatch", Unwatch(vm=request.vm))
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True
