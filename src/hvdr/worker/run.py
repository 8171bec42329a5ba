"""The worker process: polls the workflow task queue and each served site's activity task queue.

SIGINT / SIGTERM stop polling at once and give running activities ``drain_timeout`` to finish
before they are cancelled (Temporal retries an interrupted activity elsewhere; activities are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pkgutil
import signal
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client as TemporalClient
from temporalio.worker import Interceptor as WorkerInterceptor
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from hvdr.activities.common import HostCalls
from hvdr.activities.hosts import Hosts
from hvdr.settings import WORKFLOW_TASK_QUEUE, Settings, load_settings, site_task_queue
from hvdr.telemetry import RetryMetrics, interceptors
from hvdr.worker.hosts import HostDirectory
from hvdr.worker.registry import WORKFLOWS, site_activities, workflow_activities

log = logging.getLogger(__name__)

DEFAULT_DRAIN = timedelta(seconds=30)


WORKFLOW_TASKS = 8
"""Workflow tasks a worker runs at once. They are CPU-bound Python under one GIL: with the SDK's default of 100,
a burst of new runs (``protect enable --cloud`` of hundreds of VMs, each run's first task importing its modules
into a fresh sandbox) stretched every task past its 10-s timeout, and the retries never settled. Queued tasks
wait at no cost; the host monitors keep the steady state to a few tasks per copy interval per host."""


def passthrough_modules() -> list[str]:
    """Every module of hvdr but the workflows', for the sandbox to share rather than re-import per run.

    Workflow modules already import their models and activities passed through; what the sandbox still
    re-imported for every new run (and every run continued as new or evicted from the cache) was the ``hvdr``
    package's own imports — the client and every model module, dozens of pydantic classes rebuilt — about
    0.8 s of CPU per run, 0.06 s without: a burst of 1,000 new runs spent minutes of the worker's CPU there.
    These modules hold models, pure logic and activities; the workflow modules stay sandboxed, and the
    sandbox's checks of what workflow code calls still apply."""
    package = Path(__file__).resolve().parent.parent  # hvdr/, found without importing hvdr (the client) here
    return [f"hvdr.{m.name}" for m in pkgutil.iter_modules([str(package)]) if m.name != "workflows"]


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
    settings = settings or getattr(hosts, "settings", None)
    hosts = hosts or HostDirectory(settings or load_settings())
    # A client from hvdr.client carries the telemetry interceptors (and the worker inherits them); another gets
    # them here.
    traced = any(isinstance(i, RetryMetrics) for i in client.config()["interceptors"])
    worker_interceptors = [] if traced else [i for i in interceptors() if isinstance(i, WorkerInterceptor)]
    # Workflow steps open spans with the process's OpenTelemetry (its providers are outside the sandbox).
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("opentelemetry", *passthrough_modules())
    )
    calls = HostCalls(hosts)  # one per-host limit for every site queue of this worker
    workers = [
        Worker(
            client,
            task_queue=workflow_task_queue,
            workflows=list(WORKFLOWS),
            activities=workflow_activities(client, settings),
            max_concurrent_workflow_tasks=WORKFLOW_TASKS,
            graceful_shutdown_timeout=drain_timeout,
            sticky_queue_schedule_to_start_timeout=sticky_timeout,
            interceptors=worker_interceptors,
            workflow_runner=runner,
        )
    ]
    for site in sites:
        workers.append(
            Worker(
                client,
                task_queue=site_task_queue(site),
                activities=site_activities(hosts, calls),
                graceful_shutdown_timeout=drain_timeout,
                interceptors=worker_interceptors,
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
