"""Host activities under Temporal's ActivityEnvironment, over the in-process lab: a lost answer is reconciled,
never re-sent blindly; host commands heartbeat; a cancelled activity stops its command; the per-host limit is
taken before a thread, so a burst to one host leaves the others' calls free."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from hvdr.activities.common import HostCalls
from hvdr.activities.protection import HostVM, ProtectionActivities, ReplicationInput, ResyncInput
from hvdr.hyperv import models as hv
from hvdr.hyperv.errors import OutcomeUnknown
from hvdr.hyperv.transport import PSResult
from hvdr.lab.seam import PSHost
from tests.lab.conftest import Shell
from tests.workflows.lab_hosts import A1, B1, LabHosts, LabTransport, SlowTransport, lab_topology

RESYNC = "Resume-VMReplication -Resynchronize"


class LosesAnswers(LabTransport):
    """Scripts that call ``cmdlet`` reach the host (``runs``) or not, and their answer is lost either way:
    what a read timeout or a dropped connection after the Command message looks like to the driver."""

    def __init__(self, host: PSHost, cmdlet: str, *, runs: bool, times: int = 1) -> None:
        super().__init__(host)
        self.cmdlet, self.runs, self.left = cmdlet, runs, times

    def run(self, script: str, *, timeout: float | None = None) -> PSResult:
        if self.left and self.cmdlet in script:
            self.left -= 1
            if self.runs:
                super().run(script, timeout=timeout)
            else:
                self.scripts.append(script)  # sent, and lost on the way
            raise OutcomeUnknown("run: no answer within the read timeout; it may have run", host=self.host)
        return super().run(script, timeout=timeout)


def _lab(*vms: str, replicating: bool = False) -> LabHosts:
    lab = LabHosts(lab_topology(vms, disk_gb=1))
    if replicating:
        shell = Shell(lab.backend)
        for vm in vms:
            shell.protect(vm, A1, B1)
    return lab


def _lose(lab: LabHosts, cmdlet: str, *, runs: bool) -> LosesAnswers:
    return lab.use_transport(A1, lambda ps: LosesAnswers(ps, cmdlet, runs=runs))


def _settings() -> hv.ReplicationSettings:
    return hv.ReplicationSettings(
        replica_server=B1, replica_port=80, authentication_type=hv.AuthenticationType.KERBEROS
    )


async def test_a_lost_answer_to_a_change_that_happened_is_read_back_not_sent_again() -> None:
    lab = _lab("db-01", replicating=True)
    _lose(lab, "Resume-VMReplication", runs=True)
    info = await ActivityEnvironment().run(
        ProtectionActivities(lab).resynchronize_replication, ResyncInput(host=A1, vm="db-01")
    )
    assert info.state in (hv.ReplicationState.RESYNCHRONIZING, hv.ReplicationState.REPLICATING)
    assert lab.calls("Resume-VMReplication", "db-01") == 1, "the resync was sent again"
    assert lab.relationship("db-01").state.name in ("Resynchronizing", "Replicating")


async def test_a_lost_non_idempotent_change_that_did_not_show_fails_clearly_and_is_not_resent() -> None:
    lab = _lab("db-01", replicating=True)
    _lose(lab, "Resume-VMReplication", runs=False)
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(
            ProtectionActivities(lab).resynchronize_replication, ResyncInput(host=A1, vm="db-01")
        )
    assert failed.value.type == "OutcomeUnknown" and failed.value.non_retryable
    assert f"{RESYNC}: " in failed.value.message and "check the VM on its host" in failed.value.message
    assert lab.calls("Resume-VMReplication", "db-01") == 0
    assert lab.relationship("db-01").state.name == "Suspended"


@pytest.mark.parametrize("runs", [True, False])
async def test_a_lost_idempotent_change_is_sent_again_only_when_it_did_not_show(runs: bool) -> None:
    lab = _lab("app-01")
    transport = _lose(lab, "Enable-VMReplication", runs=runs)
    info = await ActivityEnvironment().run(
        ProtectionActivities(lab).enable_replication, ReplicationInput(host=A1, vm="app-01", settings=_settings())
    )
    assert info.mode is hv.ReplicationMode.PRIMARY and info.replica_server == B1
    assert lab.calls("Enable-VMReplication", "app-01") == 1
    sent = [s for s in transport.scripts if "Enable-VMReplication" in s]
    assert len(sent) == (1 if runs else 2)


async def test_a_retry_after_an_attempt_that_sent_the_resync_does_not_force_another() -> None:
    lab = _lab("db-01", replicating=True)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=2, heartbeat_details=[[RESYNC]])
    info = await env.run(ProtectionActivities(lab).resynchronize_replication, ResyncInput(host=A1, vm="db-01"))
    assert info.state is hv.ReplicationState.REPLICATING
    assert lab.calls("Suspend-VMReplication", "db-01") == 0 and lab.calls("Resume-VMReplication", "db-01") == 0


def _slow(lab: LabHosts, seconds: float) -> SlowTransport:
    return lab.use_transport(A1, lambda ps: SlowTransport(ps, seconds))


async def test_a_host_command_heartbeats_while_it_runs() -> None:
    lab = _lab("db-01", replicating=True)
    _slow(lab, 0.5)
    beats: list[tuple[Any, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    activities = ProtectionActivities(lab, HostCalls(lab, heartbeat_every_s=0.05))
    info = await env.run(activities.suspend_replication, HostVM(host=A1, vm="db-01"))
    assert info.state is hv.ReplicationState.SUSPENDED
    assert len(beats) >= 5, beats
    assert (["Suspend-VMReplication"],) in beats, "the heartbeat records the step that was sent"


async def test_a_cancelled_activity_stops_its_command_before_it_returns() -> None:
    lab = _lab("db-01", replicating=True)
    transport = _slow(lab, 30)
    env = ActivityEnvironment()
    activities = ProtectionActivities(lab, HostCalls(lab, heartbeat_every_s=0.05))
    task = asyncio.create_task(env.run(activities.suspend_replication, HostVM(host=A1, vm="db-01")))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert transport.aborted.is_set() and transport.returned.is_set(), "the WinRM call ran on after the activity"
    assert time.monotonic() - started < 5
    assert lab.calls("Suspend-VMReplication", "db-01") == 0


class _Blocking:
    """A driver stand-in: ``list_vms`` blocks until released and records how many run at once."""

    def __init__(self, name: str, gate: threading.Event) -> None:
        self.name, self.gate = name, gate
        self.running = self.most = 0
        self._lock = threading.Lock()

    def list_vms(self) -> list[hv.VMInfo]:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.gate.wait(30)
            return []
        finally:
            with self._lock:
                self.running -= 1


class _TwoHosts:
    def __init__(self, drivers: dict[str, Any]) -> None:
        self.drivers = drivers

    def host(self, name: str) -> Any:
        return self.drivers[name]

    def vmm(self, site: str) -> None:
        return None

    def site_hosts(self, site: str) -> list[Any]:
        return []


async def test_a_burst_to_one_host_waits_for_its_slots_without_holding_threads_another_host_needs() -> None:
    gate = threading.Event()
    busy, other = _Blocking("busy", gate), _Blocking("other", threading.Event())
    other.gate.set()
    calls = HostCalls(_TwoHosts({"busy": busy, "other": other}), shells_per_host=4)
    burst = [asyncio.create_task(calls.run("busy", busy.list_vms)) for _ in range(40)]
    await asyncio.sleep(0.2)
    threads_before = len(calls._pool._threads)
    started = time.monotonic()
    assert await asyncio.wait_for(calls.run("other", other.list_vms), timeout=5) == []
    assert time.monotonic() - started < 1, "another host's call waited behind the burst"
    assert busy.most == 4 and threads_before <= 4, (busy.most, threads_before)
    gate.set()
    await asyncio.gather(*burst)
    calls.close()


async def test_a_call_queued_behind_its_hosts_busy_shells_heartbeats_while_it_waits() -> None:
    gate = threading.Event()
    busy = _Blocking("busy", gate)
    calls = HostCalls(_TwoHosts({"busy": busy}), shells_per_host=1, heartbeat_every_s=0.05)
    holder = asyncio.create_task(calls.run("busy", busy.list_vms))
    await asyncio.sleep(0.1)
    beats: list[tuple[Any, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    queued = asyncio.create_task(env.run(calls.run, "busy", busy.list_vms))
    await asyncio.sleep(0.5)
    assert not queued.done() and busy.most == 1
    assert len(beats) >= 5, beats
    gate.set()
    assert await queued == [] and await holder == []
    calls.close()
