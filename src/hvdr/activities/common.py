"""What every host activity shares: blocking driver calls off the event loop, fairly, heartbeating, cancellable.

:class:`HostCalls` runs a driver call for an activity:

- the per-host limit (an asyncio semaphore per host, as many as the driver keeps shells) is taken *before* a
  thread is used, so a burst of commands to one host waits on the event loop and never holds the threads that
  another host's measurement needs;
- the call runs on a thread pool of its own while the activity heartbeats; a cancelled activity (workflow
  cancel, heartbeat timeout noticed by the server, worker drain) aborts the WinRM call in that thread
  (:func:`hvdr.hyperv.abort.abort_scope`), waits for the thread and leaves cancelled, so nothing of this
  attempt runs on behind the next one;
- driver errors leave as ``ApplicationError(type=<class name>, non_retryable=not retryable)``: Temporal retries
  transient ones with backoff and hands permanent ones to the workflow at once; the workflow matches on the name.

:meth:`HostCalls.replication_step` is the common case of a step whose effect shows in the replication state.
:meth:`HostCalls.change` sends a state change: when its outcome is unknown (the command was sent, then the
answer was lost) it reads the state back, succeeds if the change shows, re-sends only an idempotent step and
otherwise fails clearly. Each step sent is recorded in the heartbeat details, so a later attempt knows that an
earlier one may have sent it (best effort: heartbeats are throttled).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from hvdr.activities.hosts import Hosts
from hvdr.errors import ConfigError, HvdrError, NotFound
from hvdr.hyperv import models as hv
from hvdr.hyperv.abort import abort_scope
from hvdr.hyperv.connection import HostEndpoint
from hvdr.hyperv.errors import HyperVError, OutcomeUnknown, cap
from hvdr.hyperv.protocol import HyperVHost, VMMServer
from hvdr.models import DiscoveredHost
from hvdr.topology import host_key

P = ParamSpec("P")
R = TypeVar("R")

SHELLS_PER_HOST: int = HostEndpoint.model_fields["max_shells"].default
HEARTBEAT_EVERY_S = 10.0
"""Well inside the heartbeat timeout the workflows give host commands (:mod:`hvdr.activities.options`)."""

_sent: ContextVar[tuple[str, ...]] = ContextVar("hvdr_steps_sent", default=())


def as_application_error(exc: HvdrError) -> ApplicationError:
    retryable = isinstance(exc, HyperVError) and exc.retryable
    details = []
    if isinstance(exc, HyperVError):
        details.append({"host": exc.host, "error_id": exc.error_id, "state": getattr(exc, "state", None)})
    return ApplicationError(cap(exc.message), *details, type=type(exc).__name__, non_retryable=not retryable)


def earlier_attempt_sent(step: str) -> bool:
    """An earlier attempt of this activity recorded that it sent ``step`` (it may have taken effect)."""
    if not activity.in_activity():
        return False
    return any(isinstance(detail, list | tuple) and step in detail for detail in activity.info().heartbeat_details)


def _heartbeat() -> None:
    if activity.in_activity():
        activity.heartbeat(list(_sent.get()))


def _aborting(abort: threading.Event, fn: Callable[..., R], args: Any, kwargs: Any) -> R:
    with abort_scope(abort):
        return fn(*args, **kwargs)


class HostCalls:
    """One worker's way of calling its hosts' drivers from activities (shared by all its activity classes)."""

    def __init__(
        self, hosts: Hosts, *, shells_per_host: int = SHELLS_PER_HOST, heartbeat_every_s: float = HEARTBEAT_EVERY_S
    ) -> None:
        self.hosts = hosts
        self._shells = shells_per_host
        self._heartbeat_every = heartbeat_every_s
        self._limits: dict[str, asyncio.Semaphore] = {}
        # Threads are made on demand; the per-host limits, not the pool, bound how many run at once.
        self._pool = ThreadPoolExecutor(max_workers=256, thread_name_prefix="hvdr-host")

    async def host(self, name: str) -> HyperVHost:
        return await self._thread(self.hosts.host, name)

    async def vmm(self, site: str) -> VMMServer | None:
        return await self._thread(self.hosts.vmm, site)

    async def site_hosts(self, site: str) -> list[DiscoveredHost]:
        return await self._thread(self.hosts.site_hosts, site)

    async def run(self, host: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a driver call against ``host`` once a slot of that host is free."""
        limit = self._limits.setdefault(host_key(host), asyncio.Semaphore(self._shells))
        while True:  # a call queued behind a burst heartbeats too, or its activity would time out
            try:
                await asyncio.wait_for(limit.acquire(), timeout=self._heartbeat_every)
                break
            except TimeoutError:
                _heartbeat()
        try:
            return await self._thread(fn, *args, **kwargs)
        finally:
            limit.release()

    async def ensure(
        self,
        host: str,
        step: str,
        send: Callable[[], R],
        reconcile: Callable[[], Awaitable[R | None]],
        *,
        idempotent: bool,
    ) -> R:
        """Look before acting: when ``reconcile`` finds the change made (a retry after a crash), return it;
        otherwise :meth:`change`."""
        done = await reconcile()
        if done is not None:
            return done
        return await self.change(host, step, send, reconcile, idempotent=idempotent)

    async def replication_step(
        self,
        name: str,
        vm: str,
        step: str,
        done: Callable[[hv.ReplicationState], bool],
        send: Callable[[HyperVHost], Callable[[], hv.ReplicationInfo]],
    ) -> hv.ReplicationInfo:
        """An idempotent step whose effect shows in the VM's replication state on host ``name``: done (now, or
        after a retry or an unknown outcome) when ``done(state)``. ``send(host)`` is the change, as
        ``partial(host.method, vm, …)`` where it can be, so that a plan's batch can send many VMs' at once."""
        host = await self.host(name)

        async def there() -> hv.ReplicationInfo | None:
            current = await self.run(name, host.get_replication, vm)
            return current if done(current.state) else None

        return await self.ensure(name, step, send(host), there, idempotent=True)

    async def change(
        self,
        host: str,
        step: str,
        send: Callable[[], R],
        reconcile: Callable[[], Awaitable[R | None]],
        *,
        idempotent: bool,
    ) -> R:
        """Send one state change (``step`` names it); on an unknown outcome, ``reconcile`` reads the state back
        and returns the result when the change shows (else None); only an idempotent step is sent again."""
        _sent.set((*_sent.get(), step))
        _heartbeat()  # before the send: a later attempt learns that this one may have sent it
        try:
            return await self.run(host, send)
        except ApplicationError as error:
            if error.type != OutcomeUnknown.__name__:
                raise
            reason = error.message
        if activity.in_activity():
            activity.logger.warning("%s: outcome unknown (%s); reading the state back", step, reason)
        done = await reconcile()
        if done is not None:
            return done
        if not idempotent:
            raise outcome_unknown(step, reason)
        return await self.run(host, send)

    async def _thread(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        abort = threading.Event()
        job = functools.partial(contextvars.copy_context().run, _aborting, abort, fn, args, kwargs)
        future: Future[R] = self._pool.submit(job)
        waiter = asyncio.wrap_future(future)
        try:
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=self._heartbeat_every)
                if not waiter.done():
                    _heartbeat()
        except asyncio.CancelledError:
            abort.set()
            await _settle(waiter)
            raise
        try:
            return waiter.result()
        except (HyperVError, ConfigError, NotFound) as exc:
            raise as_application_error(exc) from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def refused(message: str, kind: str) -> ApplicationError:
    """A step that cannot succeed as things are (a wrong state, a missing switch …): not retried."""
    return ApplicationError(message, type=kind, non_retryable=True)


def outcome_unknown(step: str, reason: str) -> ApplicationError:
    return ApplicationError(
        cap(
            f"{step}: {reason}; the host's state does not show whether it took effect, and sending it again is "
            "not safe: check the VM on its host, then retry the command"
        ),
        type=OutcomeUnknown.__name__,
        non_retryable=True,
    )


async def _settle(waiter: asyncio.Future[Any]) -> None:
    """Wait for an aborted call's thread (it stops at its next Receive); further cancellations change nothing."""
    while not waiter.done():
        try:
            await asyncio.wait({waiter})
        except asyncio.CancelledError:
            continue
    if not waiter.cancelled():
        waiter.exception()  # retrieved: the activity leaves as cancelled whatever the call raised
