"""The whole product against the lab: Temporal (the session's dev server), real site workers, the driver
over real WinRM to an in-process lab, and an inventory applied from the default topology."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from hvdr.actions import DecisionResult
from hvdr.client import Client
from hvdr.errors import HvdrError
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

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.lab.control(method, path, body)

    def calls(self, cmdlet: str, vm: str | None = None) -> int:
        rows = self.control("GET", "/calls")["calls"]
        return sum(r["count"] for r in rows if r["cmdlet"].lower() == cmdlet.lower() and (vm is None or r["vm"] == vm))

    def copies(self, vm: str) -> list[dict[str, Any]]:
        return [row for row in self.control("GET", "/vms") if row["name"] == vm]

    async def start_workers(self) -> None:
        self.stop_workers = asyncio.Event()
        self.hosts = HostDirectory(self.settings)
        workers = build_workers(self.client.temporal, ["site-a", "site-b"], hosts=self.hosts)
        self.workers = asyncio.create_task(run_workers(workers, self.stop_workers))

    async def kill_workers(self) -> None:
        """Stop the workers without draining (as a crash would leave activities unfinished)."""
        self.workers.cancel()
        await asyncio.gather(self.workers, return_exceptions=True)
        self.hosts.close()


@pytest.fixture
async def estate(
    request: pytest.FixtureRequest, env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Estate]:
    """The lab over plain HTTP; ``@pytest.mark.parametrize("estate", [{"https": True}], indirect=True)`` serves
    it over HTTPS with its generated certificate, ``{"password": …}`` gives its hosts that password."""
    for name in ("HVDR_DATABASE_URL", "HVDR_TOPOLOGY", "HVDR_TIME_SCALE", "HVDR_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HVDR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HVDR_TEMPORAL_ADDRESS", env.client.service_client.config.target_host)
    monkeypatch.setenv("HVDR_LAB", "1")
    settings = load_settings()
    param = getattr(request, "param", {})
    topology = default_topology()
    if "password" in param:
        for credential in topology.lab.credentials.values():
            credential.password = param["password"]
    lab = Lab(topology, speed=SPEED, https=bool(param.get("https", False)))
    lab.start()
    lab.write_endpoints(settings.lab_endpoints)
    with session_for(settings) as session:
        apply_topology(session, default_topology())
    estate = Estate(
        lab,
        settings,
        Client(env.client, settings),
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
        ids = {
            f"{kind}/{vm.name.lower()}"
            for vm in default_topology().vms
            for kind in ("protect", "failover", "testfailover")
        }
        ids |= {f"monitor/{host.fqdn.lower()}" for host in default_topology().hosts}
        async for run in env.client.list_workflows(
            "HvdrKind IN ('protection', 'failover', 'testfailover', 'plan', 'plan-dry-run', 'monitor') "
            "AND ExecutionStatus = 'Running'"
        ):
            ids.add(run.id)
        for workflow_id in sorted(ids):
            with contextlib.suppress(RPCError):  # not running: nothing to end
                await env.client.get_workflow_handle(workflow_id).terminate("end of test")
        estate.stop_workers.set()
        await asyncio.gather(estate.workers, return_exceptions=True)
        estate.hosts.close()
        lab.stop()


async def approve_when_waiting(client: Client, run: str, step: str, timeout: float = 300) -> DecisionResult:
    """Approve ``step`` of ``run`` as soon as the run waits for it (the run's report says so; while a worker is
    down the report cannot be read, so errors are retried)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            report = await client.plan_report(run)
            if any(a.name == step and a.outcome == "waiting" for a in report.actions):
                return await client.approve(run, step, reason="change window open")
        except (HvdrError, RPCError, WorkflowQueryFailedError):
            pass
        assert time.monotonic() < deadline, f"{run} never waited for {step}"
        await asyncio.sleep(0.2)
