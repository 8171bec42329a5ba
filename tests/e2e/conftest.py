"""The whole product against the lab: Temporal (the session's dev server), real site workers, the driver
over real WinRM to an in-process lab, and an inventory applied from the default topology."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import PendingActivityState, WorkflowExecutionStatus
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from hvdr.client import Client
from hvdr.failover import OPERATION_KINDS
from hvdr.inventory.apply import apply_topology
from hvdr.inventory.db import session_for
from hvdr.lab.runner import Lab
from hvdr.settings import Settings, load_settings
from hvdr.topology import default_topology
from hvdr.worker.hosts import HostDirectory
from hvdr.worker.run import build_workers, run_workers

SPEED = 300.0


@dataclass
class Estate:
    lab: Lab
    settings: Settings
    client: Client
    hosts: HostDirectory
    stop_workers: asyncio.Event
    workers: asyncio.Task[None]
    stop_site_workers: asyncio.Event = field(default_factory=asyncio.Event)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.lab.control(method, path, body)

    def calls(self, cmdlet: str, vm: str | None = None) -> int:
        rows = self.control("GET", "/calls")["calls"]
        return sum(r["count"] for r in rows if r["cmdlet"].lower() == cmdlet.lower() and (vm is None or r["vm"] == vm))

    def copies(self, vm: str) -> list[dict[str, Any]]:
        return [row for row in self.control("GET", "/vms") if row["name"] == vm]

    async def start_workers(self) -> None:
        """The workflow worker and the site workers, as ``hvdr worker`` runs them (in two groups, so a test can
        stop the site workers alone)."""
        self.stop_workers, self.stop_site_workers = asyncio.Event(), asyncio.Event()
        self.hosts = HostDirectory(self.settings)
        workers = build_workers(self.client.temporal, ["site-a", "site-b"], hosts=self.hosts)
        self.workers = asyncio.create_task(self._run(workers))

    async def _run(self, workers: list[Worker]) -> None:
        sites = asyncio.create_task(run_workers(workers[1:], self.stop_site_workers))
        try:
            await run_workers(workers[:1], self.stop_workers)
        finally:
            self.stop_site_workers.set()
            await asyncio.gather(sites, return_exceptions=True)

    async def stop(self) -> None:
        self.stop_workers.set()
        await asyncio.gather(self.workers, return_exceptions=True)
        self.hosts.close()

    async def kill_workers(self) -> None:
        """Stop the workers without draining (as a crash would leave activities unfinished)."""
        self.workers.cancel()
        await asyncio.gather(self.workers, return_exceptions=True)
        self.hosts.close()

    async def crash_at_boundary(self, handle: WorkflowHandle[Any, Any]) -> list[str]:
        """Kill the workers at the run's next boundary between two activities; returns the activities it waits
        to start there ([] when the run ended first).

        The site workers stop taking work and finish the activity they run, so its result is in the history and
        the run waits with nothing in flight; then the workflow worker is killed too. Start them again with
        :meth:`start_workers`."""
        self.stop_site_workers.set()
        waiting = await waiting_at_boundary(handle)
        await self.kill_workers()
        return waiting


async def waiting_at_boundary(handle: WorkflowHandle[Any, Any], timeout: float = 60.0) -> list[str]:
    """Wait until the run has no workflow task and no started activity; the activities scheduled then."""
    deadline = time.monotonic() + timeout
    while True:
        raw = (await handle.describe()).raw_description
        if raw.workflow_execution_info.status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
            return []
        pending = list(raw.pending_activities)
        scheduled = PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
        if not raw.HasField("pending_workflow_task") and pending and all(a.state == scheduled for a in pending):
            return [a.activity_type.name for a in pending]
        assert time.monotonic() < deadline, raw
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def open_estate(temporal: TemporalClient, *, https: bool = False) -> AsyncIterator[Estate]:
    """The lab, the default topology applied to a fresh inventory, and workers on ``temporal``; the caller sets
    the environment first (:func:`lab_environment`)."""
    settings = load_settings()
    lab = Lab(default_topology(), speed=SPEED, https=https)
    lab.start()
    lab.write_endpoints(settings.lab_endpoints)
    with session_for(settings) as session:
        apply_topology(session, default_topology())
    estate = Estate(
        lab,
        settings,
        Client(temporal, settings),
        HostDirectory(settings),
        asyncio.Event(),
        asyncio.create_task(asyncio.sleep(0)),
    )
    await estate.start_workers()
    try:
        yield estate
    finally:
        # Runs are keyed by VM name on the session's shared server: end them so the next test starts afresh. By
        # id first (visibility lags, and a run it has not listed yet would be reused by the next test's protect),
        # then whatever else visibility lists.
        kinds = ("protect", *OPERATION_KINDS)
        ids = {f"{kind}/{vm.name.lower()}" for vm in default_topology().vms for kind in kinds}
        async for run in temporal.list_workflows(
            "HvdrKind IN ('protection', 'failover', 'failback') AND ExecutionStatus = 'Running'"
        ):
            ids.add(run.id)
        for workflow_id in sorted(ids):
            with contextlib.suppress(RPCError):  # not running: nothing to end
                await temporal.get_workflow_handle(workflow_id).terminate("end of test")
        await estate.stop()
        lab.stop()


def lab_environment(monkeypatch: pytest.MonkeyPatch, home: Path, temporal_address: str) -> None:
    for name in ("HVDR_DATABASE_URL", "HVDR_TOPOLOGY", "HVDR_TIME_SCALE", "HVDR_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HVDR_HOME", str(home))
    monkeypatch.setenv("HVDR_TEMPORAL_ADDRESS", temporal_address)
    monkeypatch.setenv("HVDR_LAB", "1")


@pytest.fixture
async def estate(
    request: pytest.FixtureRequest, env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Estate]:
    """The lab over plain HTTP; ``@pytest.mark.parametrize("estate", [{"https": True}], indirect=True)`` serves
    it over HTTPS with its generated certificate."""
    lab_environment(monkeypatch, tmp_path / "home", env.client.service_client.config.target_host)
    https = bool(getattr(request, "param", {}).get("https", False))
    async with open_estate(env.client, https=https) as estate:
        yield estate


@pytest.fixture(scope="module")
async def shared_estate(env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Estate]:
    """One estate for a module's tests that each use their own VMs (and clear the faults they inject)."""
    home = tmp_path_factory.mktemp("shared") / "home"
    with pytest.MonkeyPatch.context() as monkeypatch:
        lab_environment(monkeypatch, home, env.client.service_client.config.target_host)
        async with open_estate(env.client) as estate:
            yield estate
