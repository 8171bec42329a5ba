"""A drill's links to the rest of hvdr (workflow task queue: no host): which VMs of the plan it can test now, with
each one's test failover spec, and the outcome written to the inventory's runs table for ``hvdr check``.

The inventory is reached through :class:`DrillBook` (the worker implements it), so the Drill workflow, which
names these activities, never reaches the database itself.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from hvdr.activities.testfailover import refuse_conflicts
from hvdr.drill import DrillGroup, DrillRecord, DrillTarget, DrillVM
from hvdr.errors import HvdrError
from hvdr.protection import ProtectionStatus, protection_workflow_id
from hvdr.testfailover import TestFailoverSpec


class DrillBook(Protocol):
    """The inventory as a drill needs it."""

    def plan_groups(self, plan: str) -> tuple[int | None, list[tuple[str, list[str]]]]:
        """The plan's RTO target and its groups (name, VMs) in order; raises ``NotFound`` for an unknown plan."""
        ...

    def test_spec(self, vm: str, status: ProtectionStatus) -> TestFailoverSpec:
        """The VM's test failover spec in its live direction (kept 0 s: removed as soon as it is verified)."""
        ...

    def record_drill(self, record: DrillRecord) -> None: ...


class ResolveDrill(BaseModel):
    plan: str


class DrillLinks:
    """Registered on the workflow task queue's worker."""

    def __init__(self, client: Client, book: DrillBook) -> None:
        self.client = client
        self.book = book

    @activity.defn(name="drill_resolve")
    async def resolve(self, request: ResolveDrill) -> DrillTarget:
        """The plan's groups with a test failover spec per VM, or the one-line reason a VM cannot be tested now."""
        try:
            target, groups = self.book.plan_groups(request.plan)
        except HvdrError as exc:
            raise ApplicationError(str(exc), type="UnknownPlan", non_retryable=True) from None
        resolved = []
        for name, vms in groups:
            members = []
            for vm in vms:
                try:
                    status = await self._testable(vm)
                    members.append(DrillVM(vm=vm, spec=self.book.test_spec(status.vm, status)))
                except ApplicationError as exc:
                    members.append(DrillVM(vm=vm, refused=exc.message))
                except HvdrError as exc:
                    members.append(DrillVM(vm=vm, refused=str(exc)))
            resolved.append(DrillGroup(name=name, vms=members))
        return DrillTarget(plan=request.plan, rto_target_s=target, groups=resolved)

    async def _testable(self, vm: str, attempts: int = 5) -> ProtectionStatus:
        """The VM's protection status when a test failover may start now. A protection run that is running but
        did not answer its status query in time (a busy worker) is asked again, not taken for unprotected."""
        for attempt in range(attempts):
            try:
                return await refuse_conflicts(self.client, vm)
            except ApplicationError as exc:
                if exc.type != "NotProtected" or attempt == attempts - 1 or not await self._protection_runs(vm):
                    raise
            activity.heartbeat(f"asking {vm}'s protection run again")
            await asyncio.sleep(1.0 + attempt)
        raise AssertionError("unreachable")

    async def _protection_runs(self, vm: str) -> bool:
        try:
            described = await self.client.get_workflow_handle(protection_workflow_id(vm)).describe()
        except RPCError:
            return False
        return described.status is WorkflowExecutionStatus.RUNNING

    @activity.defn(name="drill_record")
    async def record(self, record: DrillRecord) -> None:
        """The drill's outcome in the runs table (idempotent: one line per drill run)."""
        self.book.record_drill(record)
