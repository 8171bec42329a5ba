"""Protection under Temporal's sharp edges: continue-as-new with an update in flight, long initial copies,
commands queued together, a heal against a dead host, and what a steady run writes to its history."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from hvdr.activities.protection import HostVM
from hvdr.hyperv import models as hv
from hvdr.monitor import monitor_workflow_id
from hvdr.protection import (
    DisableRequest,
    FailoverBegin,
    FailoverEnd,
    Phase,
    ProtectionInput,
    ProtectionSpec,
    ProtectionStatus,
    protection_workflow_id,
)
from hvdr.workflows.protection import ProtectionWorkflow
from tests.workflows.lab_hosts import A1, B1, LabHosts, site_workers
from tests.workflows.test_protection import _history_lengths, _spec, _until

Handle = WorkflowHandle[ProtectionWorkflow, ProtectionStatus]
LabFactory = Callable[..., LabHosts]
Wrap = Callable[[Callable[..., Any]], Callable[..., Any]]


def _workers(client: TemporalClient, queue: str, lab: LabHosts, **wrap: Wrap) -> list[Worker]:
    return site_workers(client, queue, lab, workflows=[ProtectionWorkflow], wrap=wrap)


async def _start(client: TemporalClient, queue: str, spec: ProtectionSpec, ticks_per_run: int = 500) -> Handle:
    request = ProtectionInput.new(spec).model_copy(update={"ticks_per_run": ticks_per_run})
    return await client.start_workflow(
        ProtectionWorkflow.run,
        request,
        id=protection_workflow_id(f"{spec.vm}-{uuid.uuid4().hex[:6]}"),
        task_queue=queue,
    )


async def test_an_update_accepted_during_the_step_that_continues_as_new_completes(
    time_env: WorkflowEnvironment, lab_hosts: LabFactory
) -> None:
    """The step is a decision on the host monitor's wake (a heal): the update accepted while it runs is executed
    by the drain before the run continues-as-new, and the continued run goes on."""
    lab = lab_hosts("db-01", disk_gb=2)
    entered, release, hold = asyncio.Event(), asyncio.Event(), [False]

    def held(original: Callable[..., Any]) -> Callable[..., Any]:
        @activity.defn(name="resume_replication")
        async def resume_replication(request: HostVM) -> hv.ReplicationInfo:
            if hold[0]:
                hold[0] = False
                entered.set()
                await release.wait()
            result: hv.ReplicationInfo = await original(request)
            return result

        return resume_replication

    queue = f"tq-{uuid.uuid4()}"
    client = time_env.client
    workers = _workers(client, queue, lab, resume_replication=held)
    async with workers[0], workers[1], workers[2]:
        handle = await _start(client, queue, _spec("db-01"), ticks_per_run=1)  # every step is its run's last
        await _until(handle, Phase.REPLICATING, time_env)
        hold[0] = True
        lab.backend.add_fault("storage_full", host=B1)  # the next cycle fails: Error, the monitor wakes the run
        # Let the server's clock reach that heal; a sleep cannot end while the heal is held, so stop it there.
        sleeping = asyncio.ensure_future(time_env.sleep(timedelta(hours=1)))
        await asyncio.wait_for(entered.wait(), timeout=60)
        sleeping.cancel()
        continued = (await handle.query(ProtectionWorkflow.details)).continued
        update = await handle.start_update(
            ProtectionWorkflow.begin_failover,
            FailoverBegin(operation="fo-1"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        release.set()
        begun = await asyncio.wait_for(update.result(), timeout=30)
        assert begun.phase is Phase.FAILOVER
        details = await handle.query(ProtectionWorkflow.details)
        assert details.phase is Phase.FAILOVER and details.continued > continued, "the run continued as new"
        ended = await asyncio.wait_for(
            handle.execute_update(ProtectionWorkflow.end_failover, FailoverEnd(operation="fo-1")), timeout=30
        )
        assert ended.phase is Phase.REPLICATING
        await handle.terminate("test done")


def _initial_copy_takes(lab: LabHosts, vm: str, duration: timedelta) -> None:
    """Slow the lab's link so that the VM's initial copy (compressed, as the policy asks) takes ``duration``."""
    [found] = lab.backend.require_host(A1).vms_named(vm)
    used = sum(disk.used_bytes() for disk in found.disks)
    lab.backend.transfer.bandwidth = used / 2 / duration.total_seconds()


async def test_a_long_initial_copy_polls_gently_and_continues_as_new(
    time_env: WorkflowEnvironment, lab_hosts: LabFactory
) -> None:
    lab = lab_hosts("files-01")
    _initial_copy_takes(lab, "files-01", timedelta(hours=2))
    queue = f"tq-{uuid.uuid4()}"
    client = time_env.client
    workers = _workers(client, queue, lab)
    async with workers[0], workers[1], workers[2]:
        handle = await _start(client, queue, _spec("files-01"), ticks_per_run=40)
        status = await _until(handle, Phase.REPLICATING, time_env, step=timedelta(minutes=10), limit=30)
        assert status.initial_progress is None
        polls = lab.calls("Measure-VMReplication")
        assert 200 <= polls <= 280, f"{polls} polls for a 2-hour copy: one every 30 s"
        details = await handle.query(ProtectionWorkflow.details)
        assert details.continued >= 5, "the copy crossed runs"
        lengths = [n async for n in _history_lengths(client, handle.id, (await handle.describe()).run_id)]
        assert max(lengths) < 40 * 12 + 60, lengths
        assert lab.calls("Start-VMInitialReplication", "files-01") == 1, "a continued run does not start it again"
        await handle.terminate("test done")


async def test_disable_and_failover_queued_together_never_leave_a_disabled_run_in_failover(
    time_env: WorkflowEnvironment, lab_hosts: LabFactory
) -> None:
    lab = lab_hosts("app-02", disk_gb=2)
    entered, release = asyncio.Event(), asyncio.Event()

    def held(original: Callable[..., Any]) -> Callable[..., Any]:
        @activity.defn(name="suspend_replication")
        async def suspend_replication(request: HostVM) -> hv.ReplicationInfo:
            entered.set()
            await release.wait()
            result: hv.ReplicationInfo = await original(request)
            return result

        return suspend_replication

    queue = f"tq-{uuid.uuid4()}"
    client = time_env.client
    workers = _workers(client, queue, lab, suspend_replication=held)
    accepted = WorkflowUpdateStage.ACCEPTED
    async with workers[0], workers[1], workers[2]:
        handle = await _start(client, queue, _spec("app-02"))
        await _until(handle, Phase.REPLICATING, time_env)
        pause = await handle.start_update(ProtectionWorkflow.pause, wait_for_stage=accepted)
        await asyncio.wait_for(entered.wait(), timeout=30)
        # While the pause runs, both are admitted: the run is still replicating.
        disable = await handle.start_update(ProtectionWorkflow.disable, DisableRequest(), wait_for_stage=accepted)
        failover = await handle.start_update(
            ProtectionWorkflow.begin_failover, FailoverBegin(operation="fo-1"), wait_for_stage=accepted
        )
        release.set()
        assert (await asyncio.wait_for(pause.result(), timeout=30)).phase is Phase.PAUSED
        assert (await asyncio.wait_for(disable.result(), timeout=30)).phase is Phase.DISABLED
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await asyncio.wait_for(failover.result(), timeout=30)
        assert "cannot fail over the protection of app-02: it is disabled" in str(refused.value.cause)
        final = await asyncio.wait_for(handle.result(), timeout=30)
        assert final.phase is Phase.DISABLED


async def test_a_command_does_not_wait_behind_a_heal_retrying_a_dead_primary(
    time_env: WorkflowEnvironment, lab_hosts: LabFactory
) -> None:
    lab = lab_hosts("db-03", disk_gb=2)
    attempts = [0]
    down: list[str] = []

    def dying(original: Callable[..., Any]) -> Callable[..., Any]:
        @activity.defn(name="resume_replication")
        async def resume_replication(request: HostVM) -> hv.ReplicationInfo:
            # The primary dies as the heal starts (the lab's host_down fault: WinRM refuses connections).
            attempts[0] += 1
            if not down:
                down.append(lab.backend.add_fault("host_down", host=A1).id)
            result: hv.ReplicationInfo = await original(request)
            return result

        return resume_replication

    queue = f"tq-{uuid.uuid4()}"
    client = time_env.client
    workers = _workers(client, queue, lab, resume_replication=dying)
    async with workers[0], workers[1], workers[2]:
        handle = await _start(client, queue, _spec("db-03"))
        await _until(handle, Phase.REPLICATING, time_env)
        storage = lab.backend.add_fault("storage_full", host=B1).id  # the next cycle fails: replication Error
        await time_env.sleep(timedelta(hours=1))
        status = await handle.query(ProtectionWorkflow.status)
        failed = f"healing failed: {status.primary_host}"
        assert any(failed in a.message and "Connection refused" in a.message for a in status.open_alerts), (
            status.open_alerts
        )
        assert 1 <= attempts[0] <= 3, f"{attempts[0]} attempts: heal retries are capped"
        # Hyper-V refuses Suspend-VMReplication in state Error (and a dead host takes no command): the host
        # comes back, the next heal resumes replication, and then the operator pauses.
        lab.heal(down[0])
        lab.heal(storage)
        await _until(handle, Phase.REPLICATING, time_env)
        await time_env.sleep(timedelta(minutes=10))
        assert lab.relationship("db-03").state.name == "Replicating"
        paused = await asyncio.wait_for(handle.execute_update(ProtectionWorkflow.pause), timeout=30)
        assert paused.phase is Phase.PAUSED
        before = attempts[0]
        await time_env.sleep(timedelta(hours=1))
        assert lab.relationship("db-03").state.name == "Suspended"
        assert attempts[0] == before, "a paused VM is not healed"
        await handle.terminate("test done")


async def test_a_steady_run_writes_status_and_search_attributes_only_on_change(
    time_env: WorkflowEnvironment, lab_hosts: LabFactory
) -> None:
    """Steady replication: the host's monitor ticks; the VM's run, with nothing to decide, writes nothing."""
    lab = lab_hosts("web-02", disk_gb=2)
    queue = f"tq-{uuid.uuid4()}"
    client = time_env.client
    workers = _workers(client, queue, lab)
    async with workers[0], workers[1], workers[2]:
        handle = await _start(client, queue, _spec("web-02"))
        await _until(handle, Phase.REPLICATING, time_env)
        await time_env.sleep(timedelta(minutes=10))
        before = await handle.fetch_history()
        monitor = client.get_workflow_handle(monitor_workflow_id(A1))
        ticks_before = len(await _fired(monitor))
        await time_env.sleep(timedelta(hours=2))  # 24 ticks at 300 s
        after = await handle.fetch_history()
        new = after.events[len(before.events) :]
        memos = sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED for e in new)
        attributes = sum(e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES for e in new)
        assert attributes == 0 and memos == 0 and len(new) == 0, [e.event_type for e in new]
        assert len(await _fired(monitor)) - ticks_before >= 20, "the monitor measured every cycle"
        await handle.terminate("test done")
        await monitor.terminate("test done")


async def _fired(handle: WorkflowHandle[Any, Any]) -> list[object]:
    history = await handle.fetch_history()
    return [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
