"""A plan's batch over the in-process lab: one activity for a step of many VMs on one host sends like calls as
array commands (``Stop-VM -Name a,b,…``), split over the host's shells; each VM keeps the single-VM step's
outcome — a VM the host refuses fails alone, the others go on."""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from hvdr.activities.common import HostCalls
from hvdr.activities.failover import FailoverActivities
from hvdr.activities.plan import HostBatch, PlanActivities
from tests.workflows.lab_hosts import A1, LabHosts, lab_topology

VMS = [f"vm-{i:02d}" for i in range(12)]


async def test_a_batch_sends_array_commands_and_keeps_each_vms_outcome() -> None:
    hosts = LabHosts(lab_topology(VMS))
    batch = PlanActivities(FailoverActivities(hosts, HostCalls(hosts, shells_per_host=4)))
    items = [{"host": A1, "vm": vm, "mode": "turn_off"} for vm in VMS] + [
        {"host": A1, "vm": "nope", "mode": "turn_off"}
    ]
    outcomes = await ActivityEnvironment().run(
        batch.host_step, HostBatch(step="failover_shut_down", host=A1, items=items)
    )
    assert [o.result["state"] for o in outcomes[:-1]] == ["Off"] * len(VMS)
    assert outcomes[-1].error is not None and "nope" in outcomes[-1].error, outcomes[-1]
    scripts = hosts.transports[A1].scripts
    stops = [s for s in scripts if "Stop-VM" in s]
    # The first read names an unknown VM: the host refuses the array, so each VM reads on its own and the
    # unknown one fails alone; the twelve others then turn off in one command.
    assert len(stops) == 1 and all(vm in stops[0] for vm in VMS), stops
    assert len(scripts) <= 1 + len(items) + 2, len(scripts)
    assert all(hosts.calls("Stop-VM", vm) == 1 for vm in VMS)
