"""ProtectionWorkflow's lifecycle, commands and history bound: the real activities over an in-process lab
(tests/workflows/lab_hosts.py), on Temporal's time-skipping server.

The same lifecycle against the lab over real WinRM is in tests/e2e/test_protection_lab.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from hvdr.monitor import monitor_workflow_id
from hvdr.protection import (
    DisableRequest,
    Endpoint,
    FailoverBegin,
    FailoverEnd,
    Phase,
    PolicyChange,
    ProtectionInput,
    ProtectionSpec,
    ProtectionState,
    ProtectionStatus,
    ResyncRequest,
    protection_workflow_id,
)
from hvdr.topology import ReplicationPolicy
from hvdr.workflows.monitor import MonitorWorkflow
from hvdr.workflows.protection import ProtectionWorkflow
from tests.workflows.lab_hosts import A1, B1, LabHosts, site_workers

LabFactory = Callable[..., LabHosts]


def _spec(vm: str, frequency: int = 300, time_scale: float = 1.0) -> ProtectionSpec:
    return ProtectionSpec(
        vm=vm,
        primary=Endpoint(site="site-a", host="hv-a1.site-a.lab.local"),
        replica=Endpoint(site="site-b", host="hv-b1.site-b.lab.local"),
        policy=ReplicationPolicy(name="p", copy_frequency_s=frequency, rpo_alert_threshold_s=900),  # type: ignore[arg-type]
        time_scale=time_scale,
    )


def _workers(client: TemporalClient, queue: str, lab: LabHosts) -> list[Worker]:
    return site_workers(client, queue, lab, workflows=[ProtectionWorkflow])


async def _start(
    client: TemporalClient, queue: str, spec: ProtectionSpec
) -> WorkflowHandle[ProtectionWorkflow, ProtectionStatus]:
    return await client.start_workflow(
        ProtectionWorkflow.run,
        ProtectionInput(state=ProtectionState(spec=spec)),
        id=protection_workflow_id(f"{spec.vm}-{uuid.uuid4().hex[:6]}"),
        task_queue=queue,
    )


async def _until(
    handle: WorkflowHandle[ProtectionWorkflow, ProtectionStatus],
    phase: Phase,
    env: WorkflowEnvironment,
    step: timedelta = timedelta(minutes=1),
    limit: int = 200,
) -> ProtectionStatus:
    for _ in range(limit):
        status = await handle.query(ProtectionWorkflow.status)
        if status.phase is phase:
            return status
        await env.sleep(step)
    raise AssertionError(f"never reached {phase}: {status}")


async def test_bring_up_then_monitor_with_rpo(time_env: WorkflowEnvironment, lab_hosts: LabFactory) -> None:
    lab = lab_hosts("db-01")
    queue = f"tq-{uuid.uuid4()}"
    workers = _workers(time_env.client, queue, lab)
    async with workers[0], workers[1], workers[2]:
        handle = await _start(time_env.client, queue, _spec("db-01"))
        status = await _until(handle, Phase.REPLICATING, time_env)
        assert status.replication_state == "Replicating"
        await time_env.sleep(timedelta(minutes=15))
        status = await handle.query(ProtectionWorkflow.status)
        assert status.rpo_s is not None and 0 <= status.rpo_s <= 600
        assert status.open_alerts == []
        assert lab.calls("Enable-VMReplication", "db-01") == 1
        assert lab.calls("Start-VMInitialReplication", "db-01") == 1

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(ProtectionWorkflow.resume)
        assert "cannot resume the protection of db-01: it is replicating" in str(refused.value.cause)

        paused = await handle.execute_update(ProtectionWorkflow.pause)
        assert paused.phase is Phase.PAUSED and lab.calls("Suspend-VMReplication", "db-01") == 1
        resumed = await handle.execute_update(ProtectionWorkflow.resume)
        assert resumed.phase is Phase.REPLICATING
        resumes = lab.calls("Resume-VMReplication", "db-01")
        resync = await handle.execute_update(ProtectionWorkflow.resync, ResyncRequest())
        # A healthy VM is forced to resynchronize: suspended, then resumed once with -Resynchronize.
        assert resync.phase is Phase.RESYNCHRONIZING and lab.calls("Resume-VMReplication", "db-01") == resumes + 1
        assert lab.calls("Suspend-VMReplication", "db-01") == 2
        await _until(handle, Phase.REPLICATING, time_env)

        faster = ReplicationPolicy(name="fast", copy_frequency_s=30)  # type: ignore[arg-type]
        changed = await handle.execute_update(ProtectionWorkflow.change_policy, PolicyChange(policy=faster))
        assert changed.message == "policy fast applied" and lab.relationship("db-01").settings.frequency_sec == 30

        disabled = await handle.execute_update(ProtectionWorkflow.disable, DisableRequest(delete_replica=True))
        assert disabled.phase is Phase.DISABLED
        final = await handle.result()
        assert final.phase is Phase.DISABLED
        assert lab.calls("Remove-VMReplication", "db-01", host=A1) == 1
        assert lab.calls("Remove-VMReplication", "db-01", host=B1) == 1
        assert lab.calls("Remove-VM", "db-01") == 1
        await _assert_host_commands_heartbeat_and_outlast_the_driver(handle)


async def _assert_host_commands_heartbeat_and_outlast_the_driver(
    handle: WorkflowHandle[ProtectionWorkflow, ProtectionStatus],
) -> None:
    """Every host command was scheduled with a heartbeat timeout of 30-60 s, a start-to-close beyond the
    driver's 30-min budget (no attempt 2 while attempt 1's cmdlet runs), a schedule-to-start and capped retries."""
    history = await handle.fetch_history()
    scheduled = [  # host activities run on a site's queue (registering with the host monitor touches no host)
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.task_queue.name.startswith("hvdr-site-")
    ]
    commands = [a for a in scheduled if a.activity_type.name != "measure_replication"]
    assert {a.activity_type.name for a in commands} >= {
        "enable_replication",
        "suspend_replication",
        "remove_replication",
    }
    for attributes in scheduled:
        assert 30 <= attributes.heartbeat_timeout.ToTimedelta().total_seconds() <= 60, attributes
        assert attributes.schedule_to_start_timeout.ToTimedelta() > timedelta(0), attributes
        assert attributes.retry_policy.maximum_attempts > 0, attributes
    for attributes in commands:
        assert attributes.start_to_close_timeout.ToTimedelta() > timedelta(minutes=30), attributes


async def test_partition_raises_alerts_that_clear_by_themselves(
    time_env: WorkflowEnvironment, lab_hosts: LabFactory
) -> None:
    lab = lab_hosts("app-01", disk_gb=2)
    queue = f"tq-{uuid.uuid4()}"
    workers = _workers(time_env.client, queue, lab)
    async with workers[0], workers[1], workers[2]:
        handle = await _start(time_env.client, queue, _spec("app-01"))
        await _until(handle, Phase.REPLICATING, time_env)
        partition = lab.partition()
        await time_env.sleep(timedelta(minutes=30))
        status = await handle.query(ProtectionWorkflow.status)
        kinds = {a.kind for a in status.open_alerts}
        assert {"rpo", "missed_cycles", "health"} <= kinds, status.open_alerts
        lab.heal(partition)
        await time_env.sleep(timedelta(minutes=10))
        status = await handle.query(ProtectionWorkflow.status)
        assert {a.kind for a in status.open_alerts} <= {"health"}, status.open_alerts
        assert status.rpo_s is not None and status.rpo_s < 900
        # Hyper-V keeps health at Warning while more than 20% of the monitoring interval's cycles were missed:
        # six missed cycles need about two hours of good ones before the health alert clears too.
        for _ in range(18):
            status = await handle.query(ProtectionWorkflow.status)
            if not status.open_alerts:
                break
            await time_env.sleep(timedelta(minutes=10))
        assert status.open_alerts == [], status.open_alerts
        assert status.rpo_s is not None and status.rpo_s < 900


async def test_thirty_days_keep_every_history_small(time_env: WorkflowEnvironment, lab_hosts: LabFactory) -> None:
    """A month of 15-min cycles: the host's monitor measures every cycle and continues-as-new; the VM's run,
    woken only when something needs deciding, stays small and replicating."""
    lab = lab_hosts("web-01", write_kib_per_s=0.5)  # a quiet guest: a month of its writes costs little to simulate
    queue = f"tq-{uuid.uuid4()}"
    workers = _workers(time_env.client, queue, lab)
    async with workers[0], workers[1], workers[2]:
        handle = await _start(time_env.client, queue, _spec("web-01", frequency=900))
        await _until(handle, Phase.REPLICATING, time_env)
        for _ in range(30):
            await time_env.sleep(timedelta(days=1))
        status = await handle.query(ProtectionWorkflow.status)
        assert status.phase is Phase.REPLICATING
        monitor = time_env.client.get_workflow_handle_for(MonitorWorkflow.run, monitor_workflow_id(A1))
        watched = await monitor.query(MonitorWorkflow.details)
        assert watched.ticks >= 30 * 96 - 5 and list(watched.members) == ["web-01"]
        assert watched.continued >= 5
        assert lab.calls("Measure-VMReplication", host=A1) >= 30 * 96 - 5
        lengths = [n async for n in _history_lengths(time_env.client, monitor.id, (await monitor.describe()).run_id)]
        assert len(lengths) == watched.continued + 1
        assert max(lengths) < 10_000, lengths
        details = await handle.query(ProtectionWorkflow.details)
        vm_lengths = [n async for n in _history_lengths(time_env.client, handle.id, (await handle.describe()).run_id)]
        # Woken once by its first reading; then only its re-registration every 6 hours.
        assert details.ticks < 10 and sum(vm_lengths) < 800 + 30 * 60, (details.ticks, vm_lengths)
        print(
            f"30 days at 15-min cycles: monitor {watched.ticks} ticks in {len(lengths)} runs {lengths}; "
            f"VM run woken {details.ticks} times, history {vm_lengths}"
        )
        await handle.terminate("test done")
        await monitor.terminate("test done")


async def _history_lengths(client: TemporalClient, workflow_id: str, run_id: str) -> AsyncIterator[int]:
    """History lengths of every run of the workflow, following the continue-as-new chain backwards."""
    for _ in range(100):
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        yield len(history.events)
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not run_id:
            return


async def test_failover_stands_protection_by_and_it_continues_in_the_new_direction(
    time_env: WorkflowEnvironment, lab_hosts: LabFactory
) -> None:
    lab = lab_hosts("db-02", disk_gb=2)
    queue = f"tq-{uuid.uuid4()}"
    workers = _workers(time_env.client, queue, lab)
    async with workers[0], workers[1], workers[2]:
        handle = await _start(time_env.client, queue, _spec("db-02"))
        await _until(handle, Phase.REPLICATING, time_env)
        begun = await handle.execute_update(ProtectionWorkflow.begin_failover, FailoverBegin(operation="fo-1"))
        assert begun.phase is Phase.FAILOVER
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(ProtectionWorkflow.pause)
        assert "it is failover" in str(refused.value.cause)
        measured = lab.calls("Measure-VMReplication")
        await time_env.sleep(timedelta(hours=2))
        assert lab.calls("Measure-VMReplication") == measured, "protection talked to hosts during a failover"
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(ProtectionWorkflow.end_failover, FailoverEnd(operation="other"))
        reversed_ = FailoverEnd(
            operation="fo-1",
            primary=Endpoint(site="site-b", host="hv-b1.site-b.lab.local"),
            replica=Endpoint(site="site-a", host="hv-a1.site-a.lab.local"),
        )
        ended = await handle.execute_update(ProtectionWorkflow.end_failover, reversed_)
        assert ended.phase is Phase.REPLICATING and ended.message == "protection continues site-b → site-a"
        await time_env.sleep(timedelta(minutes=10))
        status = await handle.query(ProtectionWorkflow.status)
        assert (status.primary_host, status.replica_host) == (B1, A1)
        assert lab.calls("Measure-VMReplication", host=B1) > 0 and lab.calls("Measure-VMReplication") > measured
        await handle.terminate("test done")


async def test_a_failed_disable_leaves_protection_as_it_was(
    time_env: WorkflowEnvironment, lab_hosts: LabFactory
) -> None:
    lab = lab_hosts("app-04", disk_gb=2)
    queue = f"tq-{uuid.uuid4()}"
    workers = _workers(time_env.client, queue, lab)
    async with workers[0], workers[1], workers[2]:
        handle = await _start(time_env.client, queue, _spec("app-04"))
        await _until(handle, Phase.REPLICATING, time_env)
        lab.refuse(A1, "Remove-VMReplication")
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(ProtectionWorkflow.disable, DisableRequest())
        reason = str(failed.value.cause)
        assert "disable of app-04 failed: " in reason and "do not have the required permission" in reason, reason
        assert (await handle.query(ProtectionWorkflow.status)).phase is Phase.REPLICATING
        assert lab.relationship("app-04").state.name == "Replicating"
        lab.allow(A1, "Remove-VMReplication")
        done = await handle.execute_update(ProtectionWorkflow.disable, DisableRequest())
        assert done.phase is Phase.DISABLED
