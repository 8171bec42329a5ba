"""Many VMs' host calls as one command: the driver calls of a batch's per-VM steps, coalesced.

A plan's batch (:mod:`hvdr.activities.plan`) runs the single-VM step for every VM at once. Each step calls the
driver per VM (``get_vm``, ``stop_vm``, …) through :class:`HostCalls`; :class:`CoalescedCalls` stands in for
it within the batch and, once every VM still working is waiting on a driver call, sends each group of like
calls (same host, same method, same other arguments) as one array command (``Stop-VM -Name a,b,c``),
split over the host's shells so that slow work (a guest's shutdown, a final sync) still runs in parallel.
Results are handed back per VM; a VM the host did not report, or any refusal of the array command, sends
that VM's call again on its own through the single-VM method, whose read-back decides what it meant (a VM
already stopped is done). So the per-VM logic is the single-VM step's, unchanged; only its transport differs.

:class:`CoalescedPlacements` does the same for the inventory: the VMs of a batch that record their placement
together are written in one transaction (a failed one falls back to each VM on its own, for its own error).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from hvdr.activities.common import SHELLS_PER_HOST, HostCalls
from hvdr.activities.failover import Placements
from hvdr.hyperv import models as hv
from hvdr.hyperv.protocol import HyperVHost, VMMServer
from hvdr.models import DiscoveredHost

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class _Rule:
    many: str
    """The driver's array method."""
    key: Callable[[Any], str]
    """The VM a reported object belongs to."""
    shape: str = "one"
    """one: each VM gets its object; list: each VM gets the list of its objects (adapters)."""
    wrap: Callable[[Any], Any] = lambda x: x
    slow: Callable[[tuple[Any, ...]], bool] = lambda rest: False
    """Hyper-V takes an array's VMs one after another: work that waits (a guest's shutdown, a final sync) is
    spread over the host's shells so that VMs still wait in parallel; quick calls go as one command."""


def _vm_name(info: hv.VMInfo) -> str:
    return info.name


def _replication_vm(info: hv.ReplicationInfo) -> str:
    return info.vm_name


def _adapter_vm(adapter: hv.NetworkAdapter) -> str:
    return adapter.vm_name


def _heartbeat_vm(heartbeat: hv.Heartbeat) -> str:
    return heartbeat.vm_name


NAME_BUDGET = 1000
"""Characters of quoted VM names per command: scripts name the VMs twice (the change, then the read of the
result), so this keeps the encoded command line under cmd.exe's 8,191 characters (a hundred ``vm-0001``)."""

RULES: dict[str, _Rule] = {
    "get_vm": _Rule("get_vms", _vm_name),
    "get_replication": _Rule("get_replications", _replication_vm),
    "get_network_adapters": _Rule("get_adapters_of", _adapter_vm, "list"),
    "stop_vm": _Rule("stop_vms", _vm_name, slow=lambda rest: not rest or rest[0] is not hv.StopMode.TURN_OFF),
    "start_vm": _Rule("start_vms", _vm_name),
    "prepare_failover": _Rule("prepare_failovers", _replication_vm, slow=lambda rest: True),
    "start_failover": _Rule("start_failovers", _replication_vm, wrap=lambda r: hv.FailoverResult(replication=r)),
    "reverse_replication": _Rule("reverse_replications", _replication_vm),
    "stop_failover": _Rule("stop_failovers", _replication_vm),
    "connect_network_adapter": _Rule("connect_network_adapters", _adapter_vm, "list"),
    "get_heartbeat": _Rule("get_heartbeats", _heartbeat_vm),
}

SHARED = frozenset({"list_switches", "get_host_time"})
"""Reads about the host, not a VM: asked once per host in a batch, whatever number of VMs ask (a batch lasts
one step, so the next step reads again)."""


@dataclass
class _Call:
    vm: str
    single: Callable[[], Any]
    future: asyncio.Future[Any]


@dataclass
class _Group:
    host: str
    target: Any
    rule: _Rule
    rest: tuple[Any, ...]
    calls: list[_Call] = field(default_factory=list)


class CoalescedCalls(HostCalls):
    """A batch's :class:`HostCalls`: like calls of its VMs go to the host together (see the module)."""

    def __init__(self, base: HostCalls, *, shells_per_host: int = SHELLS_PER_HOST) -> None:
        # Not HostCalls.__init__: every call ends up in ``base`` (its per-host limits, threads, heartbeats).
        self.hosts = base.hosts
        self._base = base
        self._shells = shells_per_host
        self._active = 0
        self._queued = 0
        self._groups: dict[tuple[Any, ...], _Group] = {}
        self.commands = 0
        self._senders: set[asyncio.Task[None]] = set()
        self._drivers: dict[str, asyncio.Future[HyperVHost]] = {}
        self._shared: dict[tuple[str, int, str], asyncio.Future[Any]] = {}

    @contextlib.contextmanager
    def participant(self) -> Iterator[None]:
        """One VM's step: while it runs, the batch waits for it before sending a round of like calls."""
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1
            self._maybe_flush()

    async def host(self, name: str) -> HyperVHost:
        # One inventory read per host and batch, not per VM: the batch's VMs all ask for the same host (a batch
        # lasts one step, so a rotated credential still reaches the next step).
        driver = self._drivers.get(name.lower())
        if driver is None or (driver.done() and driver.exception() is not None):
            driver = self._drivers[name.lower()] = asyncio.ensure_future(self._base.host(name))
        return await asyncio.shield(driver)

    async def vmm(self, site: str) -> VMMServer | None:
        return await self._base.vmm(site)

    async def site_hosts(self, site: str) -> list[DiscoveredHost]:
        return await self._base.site_hosts(site)

    async def run(self, host: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        method: Any = fn
        arguments: tuple[Any, ...] = tuple(args)
        if isinstance(fn, functools.partial) and not fn.keywords:  # a change sent as partial(host.stop_vm, vm)
            method, arguments = fn.func, (*fn.args, *arguments)
        rule = RULES.get(getattr(method, "__name__", ""))
        target = getattr(method, "__self__", None)
        if method.__name__ in SHARED and not arguments and not kwargs and target is not None:
            return await self._shared_read(host, target, method)
        vm = arguments[0] if arguments else None
        if rule is None or kwargs or not isinstance(vm, str) or not hasattr(target, rule.many):
            return await self._base.run(host, fn, *args, **kwargs)
        name, rest = method.__name__, arguments[1:]
        key = (host.lower(), id(target), name, rest)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(host, target, rule, rest)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        group.calls.append(_Call(vm, functools.partial(fn, *args), future))
        self._queued += 1
        self._maybe_flush()
        result: R = await future
        return result

    async def _shared_read(self, host: str, target: Any, method: Callable[[], R]) -> R:
        key = (host.lower(), id(target), method.__name__)
        read = self._shared.get(key)
        if read is None or (read.done() and read.exception() is not None):
            read = self._shared[key] = asyncio.ensure_future(self._base.run(host, method))
        result: R = await asyncio.shield(read)
        return result

    def _maybe_flush(self) -> None:
        # A round goes once every VM still working has queued its next call: none is running, none is waiting
        # for an answer. The batch's VMs then move in step, which is what lets their like calls travel together.
        if self._groups and self._queued >= self._active:
            groups, self._groups, self._queued = list(self._groups.values()), {}, 0
            for group in groups:
                sender = asyncio.ensure_future(self._send(group))
                self._senders.add(sender)
                sender.add_done_callback(self._senders.discard)

    async def _send(self, group: _Group) -> None:
        calls = group.calls
        chunks = max(1, min(self._shells, len(calls))) if group.rule.slow(group.rest) else 1
        size = -(-len(calls) // chunks)
        parts: list[list[_Call]] = []
        for i in range(0, len(calls), size):
            part: list[_Call] = []
            for call in calls[i : i + size]:
                if part and sum(len(c.vm) + 3 for c in part) + len(call.vm) + 3 > NAME_BUDGET:
                    parts.append(part)
                    part = []
                part.append(call)
            parts.append(part)
        await asyncio.gather(*(self._settled(group, part) for part in parts))

    async def _settled(self, group: _Group, calls: list[_Call]) -> None:
        """No VM is left waiting: whatever goes wrong in a chunk becomes the error of its unanswered VMs."""
        try:
            await self._chunk(group, calls)
        except Exception as error:
            for call in calls:
                if not call.future.done():
                    call.future.set_exception(error)

    async def _chunk(self, group: _Group, calls: list[_Call]) -> None:
        if len(calls) == 1:
            await self._single(group, calls[0])
            return
        many = getattr(group.target, group.rule.many)
        names = [c.vm for c in calls]
        self.commands += 1
        try:
            reported: Sequence[Any] = await self._base.run(group.host, many, names, *group.rest)
        except Exception:  # a refusal of any VM (or anything else): each VM on its own, as the single-VM step
            await asyncio.gather(*(self._single(group, c) for c in calls))
            return
        found: dict[str, list[Any]] = {}
        for item in reported:
            found.setdefault(str(group.rule.key(item)).lower(), []).append(item)
        alone = []
        for call in calls:
            items = found.get(call.vm.lower())
            if not items:
                alone.append(call)
            elif group.rule.shape == "list":
                call.future.set_result(items)
            else:
                call.future.set_result(group.rule.wrap(items[0]))
        await asyncio.gather(*(self._single(group, c) for c in alone))

    async def _single(self, group: _Group, call: _Call) -> None:
        self.commands += 1
        try:
            result = await self._base.run(group.host, call.single)
        except BaseException as error:  # the VM's own error, as the single-VM step would have met it
            if not call.future.done():
                call.future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        if not call.future.done():
            call.future.set_result(result)


async def run_many(calls: CoalescedCalls, steps: Sequence[Callable[[], Awaitable[R]]]) -> list[R]:
    """Run every VM's step as a participant of the batch."""

    async def one(step: Callable[[], Awaitable[R]]) -> R:
        with calls.participant():
            return await step()

    return list(await asyncio.gather(*(one(s) for s in steps)))


class CoalescedPlacements:
    """A batch's inventory writes: the placements asked for in one turn of the event loop, in one transaction."""

    def __init__(self, base: Placements) -> None:
        self._base = base
        self._pending: list[tuple[tuple[str, str, str], asyncio.Future[None]]] = []
        self._writers: set[asyncio.Task[None]] = set()

    async def record(self, vm: str, host: str, site: str) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append(((vm, host, site), future))
        await future

    def _flush(self) -> None:
        writer = asyncio.ensure_future(self._write(self._pending))
        self._pending = []
        self._writers.add(writer)
        writer.add_done_callback(self._writers.discard)

    async def _write(self, pending: list[tuple[tuple[str, str, str], asyncio.Future[None]]]) -> None:
        try:
            await asyncio.to_thread(self._base.record_placements, [placed for placed, _ in pending])
        except Exception:  # one VM's problem (unknown to the inventory): each on its own, for its own error
            await asyncio.gather(*(self._one(placed, future) for placed, future in pending))
            return
        for _, future in pending:
            if not future.done():
                future.set_result(None)

    async def _one(self, placed: tuple[str, str, str], future: asyncio.Future[None]) -> None:
        try:
            await asyncio.to_thread(self._base.record_placement, *placed)
        except Exception as error:
            if not future.done():
                future.set_exception(error)
        else:
            if not future.done():
                future.set_result(None)
