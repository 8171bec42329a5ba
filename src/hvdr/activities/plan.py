"""A recovery plan's host steps, batched: one activity per (host, step) carries every VM of that host at that
step, and runs the single-VM step (:class:`hvdr.activities.failover.FailoverActivities`) for each.

So a plan of a thousand VMs schedules a few activities per step instead of thousands, and every VM still gets
the single-VM step's guarantees: it reads the host before it acts (a retried batch after a crash finds each
VM's step done and sends nothing again), reconciles an unknown outcome by reading, and fails with the host's
words. One VM's failure is that VM's outcome, never the batch's: the batch returns one outcome per VM. A
retryable error of one VM is retried inside the batch as the single-VM step's retry policy would (three
attempts), so the other VMs are not held back.
"""

from __future__ import annotations

import asyncio
import functools
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, TypeAdapter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from hvdr.activities.coalesce import CoalescedCalls, CoalescedPlacements, run_many
from hvdr.activities.common import HostCalls
from hvdr.activities.failover import FailoverActivities, Placements
from hvdr.activities.protection import ProtectionActivities
from hvdr.activities.runs import RunLinks
from hvdr.activities.testfailover import TestFailoverActivities, TestFailoverLinks
from hvdr.activities.unplanned import UnplannedActivities

ATTEMPTS = 3
"""Per VM, as the single-VM forward step (``hvdr.workflows.kit.STEP``)."""


class HostBatch(BaseModel):
    step: str
    """The single-VM activity's name (``failover_shut_down`` …)."""
    host: str
    items: list[dict[str, Any]]
    """One argument of the single-VM activity per VM."""
    attempts: int = ATTEMPTS


class ItemOutcome(BaseModel):
    result: Any = None
    error: str | None = None
    error_type: str | None = None


def activity_name(method: Callable[..., Any]) -> str:
    definition = getattr(method, "__temporal_activity_definition", None)
    name = getattr(definition, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"{method!r} is not an activity")
    return name


def step_types(method: Callable[..., Any]) -> tuple[type[BaseModel], TypeAdapter[Any]]:
    """The argument model and the result adapter of a single-VM activity (both ends of a batch use them)."""
    return _types_of(getattr(method, "__func__", method))


@functools.cache
def _types_of(function: Callable[..., Any]) -> tuple[type[BaseModel], TypeAdapter[Any]]:
    # Once per activity: a plan asks for every VM's every step, and building the adapter costs more than the step's
    # whole share of the workflow task.
    hints = typing.get_type_hints(function)
    argument = next(v for k, v in hints.items() if k != "return")
    return argument, TypeAdapter(hints["return"])


class _Batched:
    def __init__(self, methods: list[Callable[..., Awaitable[Any]]]) -> None:
        self._steps: dict[str, tuple[type[BaseModel], TypeAdapter[Any]]] = {}
        for method in methods:
            self._steps[activity_name(method)] = step_types(method)

    async def run(
        self,
        batch: HostBatch,
        bound: Callable[[str], Callable[[Any], Awaitable[Any]]],
        many: Callable[[list[Callable[[], Awaitable[ItemOutcome]]]], Awaitable[list[ItemOutcome]]],
    ) -> list[ItemOutcome]:
        """Every item through the step ``bound(name)`` returns; ``many`` runs the items' coroutines together."""
        types = self._steps.get(batch.step)
        if types is None:
            raise ApplicationError(f"no batched step {batch.step!r}", type="UnknownStep", non_retryable=True)
        argument_type, result_type = types
        method = bound(batch.step)

        async def one(item: dict[str, Any]) -> ItemOutcome:
            argument = argument_type.model_validate(item)
            for attempt in range(1, batch.attempts + 1):
                try:
                    result = await method(argument)
                except ApplicationError as error:
                    if error.non_retryable or attempt == batch.attempts:
                        return ItemOutcome(error=error.message, error_type=error.type)
                    await asyncio.sleep(float(2 ** (attempt - 1)))
                    continue
                return ItemOutcome(result=result_type.dump_python(result, mode="json"))
            raise AssertionError("unreachable")

        return await many([functools.partial(one, item) for item in batch.items])


async def _together(steps: list[Callable[[], Awaitable[ItemOutcome]]]) -> list[ItemOutcome]:
    return list(await asyncio.gather(*(step() for step in steps)))


def _failover_steps(failover: UnplannedActivities) -> list[Callable[..., Awaitable[Any]]]:
    """Every host step of the three kinds: planned, unplanned (its class holds the planned steps too) and test."""
    test = TestFailoverActivities(failover.calls.hosts, failover.calls)
    protection = ProtectionActivities(failover.calls.hosts, failover.calls)
    return [
        failover.check_source,
        failover.check_target,
        failover.shut_down,
        failover.prepare,
        failover.fail_over,
        failover.connect,
        failover.start_vm,
        failover.verify,
        failover.reverse,
        failover.record_placement,
        failover.stop_failover,
        failover.check_replica,
        failover.probe,
        failover.fence,
        failover.fail_over_from,
        failover.complete,
        test.prepare_replica,
        test.start,
        test.remove,
        test.confirm,
        protection.measure_replication,
    ]


class _BatchSteps(UnplannedActivities):
    """The single-VM steps as one batch runs them: host calls through the batch's :class:`CoalescedCalls`,
    placements through one :class:`CoalescedPlacements`."""

    def __init__(self, calls: HostCalls, placements: Placements | None) -> None:
        super().__init__(calls.hosts, calls, placements)
        self._placements = CoalescedPlacements(placements) if placements is not None else None

    async def _place(self, placements: Placements, vm: str, host: str, site: str) -> None:
        if self._placements is None:
            await super()._place(placements, vm, host, site)
        else:
            await self._placements.record(vm, host, site)


class PlanActivities:
    """Registered on the site task queues, beside the single-VM activities it runs."""

    def __init__(self, failover: FailoverActivities) -> None:
        self._failover = failover
        self._batched = _Batched(_failover_steps(self._steps(failover.calls)))

    def _steps(self, calls: HostCalls) -> UnplannedActivities:
        return _BatchSteps(calls, self._failover.placements)

    @activity.defn(name="plan_host_step")
    async def host_step(self, batch: HostBatch) -> list[ItemOutcome]:
        """One step for every VM of the batch on one host, concurrently; like driver calls of its VMs go to the
        host as one array command, their inventory writes as one transaction (:mod:`hvdr.activities.coalesce`)."""
        calls = CoalescedCalls(self._failover.calls)
        steps = {activity_name(m): m for m in _failover_steps(self._steps(calls))}
        return await self._batched.run(batch, steps.__getitem__, lambda items: run_many(calls, items))


class PlanLinks:
    """The protection runs' stand-by and go-on for many VMs at once (registered on the workflow task queue)."""

    def __init__(self, links: RunLinks, tests: TestFailoverLinks | None = None) -> None:
        methods: list[Callable[..., Awaitable[Any]]] = [links.stand_by, links.go_on, links.protected]
        if tests is not None:
            methods.append(tests.check_operations)
        self._methods = {activity_name(m): m for m in methods}
        self._batched = _Batched(methods)

    @activity.defn(name="plan_links")
    async def links(self, batch: HostBatch) -> list[ItemOutcome]:
        return await self._batched.run(batch, self._methods.__getitem__, _together)
