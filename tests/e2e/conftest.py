"""The whole product against the lab: Temporal (the session's dev server), real site workers, the driver
over real WinRM to an in-process lab, and an inventory applied from the default topology."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client as TemporalClient
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor, Worker

from hvdr.actions import DecisionResult
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
    gate: CrashGate = field(default_factory=lambda: CrashGate())

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
        self.gate = CrashGate()
        temporal = self.client.temporal
        gated = TemporalClient(
            temporal.service_client,
            namespace=temporal.namespace,
            data_converter=temporal.data_converter,
            interceptors=[*temporal.config()["interceptors"], self.gate],
        )
        # A worker killed by a test is gone for good: its runs' next tasks need not wait 10 s for it.
        workers = build_workers(gated, ["site-a", "site-b"], hosts=self.hosts, sticky_timeout=timedelta(seconds=1))
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

    async def crash_at_boundary(self, workflow_id: str, timeout: float = 120.0) -> str | None:
        """Kill the workers at the run's next boundary: the first attempt of the next activity it starts is
        refused at once (as a worker that is shutting down refuses the tasks it still polls), then every worker
        is killed. Retries go through (their boundary was crossed by an earlier crash), so crashes in turn land
        at new boundaries. Returns the refused activity's type (None when the run ended first). Start the workers
        again with :meth:`start_workers`."""
        self.gate.arm(workflow_id)
        handle = self.client.temporal.get_workflow_handle(workflow_id)
        ended = asyncio.ensure_future(handle.result())
        reached = asyncio.ensure_future(self.gate.reached.wait())
        await asyncio.wait([ended, reached], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        reached.cancel()
        await self.kill_workers()
        return self.gate.refused


class CrashGate(ClientInterceptor, Interceptor):
    """Once armed for a run, refuses the first attempt of that run's next activity before it does anything, and
    from then on holds every activity until the workers are killed (the worker is dying); the refused attempt
    fails retryably and the next goes to the workers started after the crash. Armed with ``hold_before``, it holds
    that run's first attempt of the named activity instead, before it does anything, until :meth:`release` (the
    workers live on; the test breaks something else meanwhile)."""

    def __init__(self) -> None:
        self.workflow_id: str | None = None
        self.refused: str | None = None
        self.reached = asyncio.Event()
        self.hold: asyncio.Event | None = None
        self.hold_before: str | None = None

    def arm(self, workflow_id: str, *, hold_before: str | None = None) -> None:
        self.workflow_id, self.hold_before = workflow_id, hold_before
        self.hold = asyncio.Event() if hold_before else None

    def release(self) -> None:
        """Let a held attempt go on, and disarm."""
        assert self.hold is not None
        self.hold.set()
        self.workflow_id, self.hold, self.hold_before = None, None, None
        self.reached = asyncio.Event()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Gated(next, self)


class _Gated(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, gate: CrashGate) -> None:
        super().__init__(next)
        self.gate = gate

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        gate, info = self.gate, activity.info()
        if gate.hold is not None:
            if (info.workflow_id, info.activity_type) == (gate.workflow_id, gate.hold_before):
                hold = gate.hold
                gate.reached.set()
                await hold.wait()
            return await self.next.execute_activity(input)
        if gate.reached.is_set():
            # Dying: what it still polls (a retry 1 s later, a sibling of a step's concurrent calls) is held until
            # the kill cancels it, as a crashed worker takes tasks with it; refusing each at once would spend a
            # retry policy's attempts on a worker that a real crash would already have removed.
            await asyncio.Event().wait()
        if gate.workflow_id is not None and info.workflow_id == gate.workflow_id and info.attempt == 1:
            gate.refused = info.activity_type
            gate.reached.set()
            raise ApplicationError("Worker shutting down")
        return await self.next.execute_activity(input)


@contextlib.asynccontextmanager
async def open_estate(
    temporal: TemporalClient, *, https: bool = False, password: str | None = None
) -> AsyncIterator[Estate]:
    """The lab, the default topology applied to a fresh inventory, and workers on ``temporal``; the caller sets
    the environment first (:func:`lab_environment`). ``password``: the lab hosts' password instead of the default."""
    settings = load_settings()
    topology = default_topology()
    if password is not None:
        for credential in topology.lab.credentials.values():
            credential.password = password
    lab = Lab(topology, speed=SPEED, https=https)
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
        ids |= {f"monitor/{host.fqdn.lower()}" for host in default_topology().hosts}
        async for run in temporal.list_workflows(
            "HvdrKind IN ('protection', 'failover', 'failback', 'testfailover', 'reverse', 'plan', 'plan-dry-run', "
            "'monitor', 'drill') AND ExecutionStatus = 'Running'"
        ):
            ids.add(run.id)
        for workflow_id in sorted(ids):
            with contextlib.suppress(RPCError):  # not running: nothing to end
                await temporal.get_workflow_handle(workflow_id).terminate("end of test")
        await estate.stop()
        lab.stop()


async def approve_when_waiting(client: Client, run: str, step: str, timeout: float = 300) -> DecisionResult:
    """Approve ``step`` of ``run`` as soon as the run waits for it (while a worker is down the report cannot be
    read, so errors are retried)."""
    return await client.approve_when_waiting(run, step, reason="change window open", timeout=timeout)


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
    it over HTTPS with its generated certificate, ``{"password": …}`` gives its hosts that password."""
    lab_environment(monkeypatch, tmp_path / "home", env.client.service_client.config.target_host)
    param = getattr(request, "param", {})
    async with open_estate(env.client, https=bool(param.get("https", False)), password=param.get("password")) as estate:
        yield estate


@pytest.fixture(scope="module")
async def shared_estate(env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Estate]:
    """One estate for a module's tests that each use their own VMs (and clear the faults they inject)."""
    home = tmp_path_factory.mktemp("shared") / "home"
    with pytest.MonkeyPatch.context() as monkeypatch:
        lab_environment(monkeypatch, home, env.client.service_client.config.target_host)
        async with open_estate(env.client) as estate:
            yield estate
