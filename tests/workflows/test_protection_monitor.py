"""The host monitor (``monitor/<host>``): one measurement per host per cycle for all its VMs, a VM's run woken
only to decide — heal, alert — and a monitor that vanished started again by the runs it watched. The real
activities over an in-process lab, on Temporal's time-skipping server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from hvdr.monitor import monitor_workflow_id
from hvdr.protection import AlertKind, DisableRequest, Phase
from hvdr.workflows.monitor import MonitorWorkflow
from hvdr.workflows.protection import ProtectionWorkflow
from tests.workflows.lab_hosts import A1, LabHosts, site_workers
from tests.workflows.test_protection import _spec, _start, _until


async def test_one_monitor_per_host_measures_all_its_vms_heals_the_one_that_breaks_and_comes_back(
    time_env: WorkflowEnvironment, lab_hosts: Callable[..., LabHosts]
) -> None:
    lab = lab_hosts("app-a", "app-b", disk_gb=1)
    client = time_env.client
    queue = f"tq-{uuid.uuid4()}"
    workers = site_workers(client, queue, lab, workflows=[ProtectionWorkflow])
    async with workers[0], workers[1], workers[2]:
        a = await _start(client, queue, _spec("app-a"))
        b = await _start(client, queue, _spec("app-b"))
        await _until(a, Phase.REPLICATING, time_env)
        await _until(b, Phase.REPLICATING, time_env)
        await time_env.sleep(timedelta(minutes=10))
        monitor = client.get_workflow_handle_for(MonitorWorkflow.run, monitor_workflow_id(A1.upper()))
        assert set((await monitor.query(MonitorWorkflow.details)).members) == {"app-a", "app-b"}

        before = lab.calls("Measure-VMReplication", host=A1)
        await time_env.sleep(timedelta(hours=1))
        measured = lab.calls("Measure-VMReplication", host=A1) - before
        assert 10 <= measured <= 14, f"{measured} host calls in an hour of 300-s cycles for two VMs: one per cycle"
        live = await monitor.query(MonitorWorkflow.live)
        assert live is not None and all(row.rpo_s is not None and row.rpo_s <= 600 for row in live.rows.values())

        # Someone suspends app-b's replication on the host: its run is woken, heals it, and the alert clears.
        lab.drivers[A1].suspend_replication("app-b")
        await time_env.sleep(timedelta(minutes=20))
        healed = await b.query(ProtectionWorkflow.details)
        assert healed.heals == 1 and lab.calls("Resume-VMReplication", "app-b") == 1
        assert lab.relationship("app-b").state.name == "Replicating"
        raised = [x for x in healed.alerts if x.kind is AlertKind.REPLICATION_ERROR]
        assert raised and all(x.cleared_at is not None for x in raised), healed.alerts
        untouched = await a.query(ProtectionWorkflow.details)
        assert untouched.heals == 0 and lab.calls("Resume-VMReplication", "app-a") == 0

        # The host stops answering: every VM's run gets a monitoring alert, cleared when the host is back.
        down = lab.backend.add_fault("host_down", host=A1).id
        await time_env.sleep(timedelta(minutes=15))
        for handle in (a, b):
            status = await handle.query(ProtectionWorkflow.status)
            assert [x.kind for x in status.open_alerts] == [AlertKind.MONITORING], status.open_alerts
        lab.heal(down)
        await time_env.sleep(timedelta(minutes=15))
        for handle in (a, b):
            assert (await handle.query(ProtectionWorkflow.status)).open_alerts == []

        # The monitor is terminated by hand: the runs register again within 6 hours, starting a new one.
        first = (await monitor.describe()).run_id
        await monitor.terminate("by hand")
        await time_env.sleep(timedelta(hours=7))
        again = await monitor.describe()
        assert again.status is WorkflowExecutionStatus.RUNNING and again.run_id != first
        assert set((await monitor.query(MonitorWorkflow.details)).members) == {"app-a", "app-b"}

        # A disabled VM leaves its monitor; the last one to leave ends it.
        await a.execute_update(ProtectionWorkflow.disable, DisableRequest())
        assert (await a.result()).phase is Phase.DISABLED  # its run leaves the monitor before it ends
        assert set((await monitor.query(MonitorWorkflow.details)).members) == {"app-b"}
        await b.execute_update(ProtectionWorkflow.disable, DisableRequest())
        await monitor.result()
