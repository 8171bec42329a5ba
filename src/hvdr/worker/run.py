"""The worker process: polls the workflow task queue and each served site's activity task queue.

SIGINT / SIGTERM stop polling at once and give running activities ``drain_timeout`` to finish
before they are cancelled (Temporal retries an interrupted activity elsewhere; activities are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client as TemporalClient
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.worker import Worker

from hvdr.activities.common import HostCalls
from hvdr.activities.hosts import Hosts
from hvdr.settings import WORKFLOW_TASK_QUEUE, Settings, load_settings, site_task_queue
from hvdr.telemetry import tracing_interceptor
from hvdr.worker.hosts import HostDirectory
from hvdr.worker.registry import WORKFLOWS, site_activities, workflow_activities

log = logging.getLogger(__name__)

DEFAULT_DRAIN = timedelta(seconds=30)


def build_workers(
    client: TemporalClient,
    sites: Sequence[str],
    *,
    drain_timeout: timedelta = DEFAULT_DRAIN,
    workflow_task_queue: str = WORKFLOW_TASK_QUEUE,
    settings: Settings | None = None,
    hosts: Hosts | None = None,
    sticky_timeout: timedelta = timedelta(seconds=10),
) -> list[Worker]:
    """One worker for the workflows and one per site for that site's activities (sharing one host directory).

    ``sticky_timeout``: how long a run's next workflow task waits for the worker that ran the last one before
    another worker takes it (after a crash, that is how long the runs it had cached pause)."""
    hosts = hosts or HostDirectory(settings or load_settings())
    # A client from hvdr.client carries the tracing interceptor (and the worker inherits it); another gets it here.
    traced = any(isinstance(i, TracingInterceptor) for i in client.config()["interceptors"])
    interceptors = [] if traced else [tracing_interceptor()]
    calls = HostCalls(hosts)  # one per-host limit for every site queue of this worker
    workers = [
        Worker(
            client,
            task_queue=workflow_task_queue,
            workflows=list(WORKFLOWS),
            activities=workflow_activities(client),
            graceful_shutdown_timeout=drain_timeout,
            sticky_queue_schedule_to_start_timeout=sticky_timeout,
            interceptors=interceptors,
        )
    ]
    for site in sites:
        workers.append(
            Worker(
                client,
                task_queue=site_task_queue(site),
                activities=site_activities(hosts, calls),
                graceful_shutdown_timeout=drain_timeout,
                interceptors=interceptors,
            )
        )
    return workers


async def run_workers(workers: Sequence[Worker], stop: asyncio.Event | None = None) -> None:
    """Run the workers until ``stop`` is set, then drain and return.

    Without a ``stop`` event of the caller's, SIGINT / SIGTERM stop them (a caller that passes one owns the
    signals, so two handlers never compete for them).
    """
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    waiter = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            error = None if task is waiter else task.exception()
            if error is not None:
                raise error
    finally:
        waiter.cancel()
        await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
        await asyncio.gather(*tasks, return_exceptions=True)
        for sig in installed:
            loop.remove_signal_handler(sig)
