"""A plan's batch over the in-process lab: one activity for a step of many VMs on one host sends like calls as
array commands (``Stop-VM -Name a,b,…``), split over the host's shells; each VM keeps the single-VM step's
outcome — a VM the host refuses fails alone, the others go on."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.testing import ActivityEnvironment

from hvdr.activities.common import HostCalls
from hvdr.activities.failover import FailoverActivities
from hvdr.activities.plan import HostBatch, ItemOutcome, PlanActivities
from hvdr.errors import NotFound
from hvdr.hyperv.models import ReplicationSettings
from tests.workflows.lab_hosts import A1, B1, LabHosts, lab_topology

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


async def test_every_host_step_of_a_planned_failover_costs_commands_per_batch_not_per_vm() -> None:
    """Preflight's switch check, Start-VMFailover and verify's heartbeat went one command per VM: at 150 VMs a
    host that made each batch take seconds. Every step of the planned sequence now sends a few commands for the
    whole batch, and every VM still ends where the single-VM step takes it."""
    hosts = LabHosts(lab_topology(VMS, disk_gb=1))
    for vm in VMS:
        hosts.host(A1).enable_replication(vm, ReplicationSettings(replica_server=B1, frequency_sec=30))
        hosts.host(A1).start_initial_replication(vm)
    hosts.backend.advance(3600)
    plan = PlanActivities(FailoverActivities(hosts, HostCalls(hosts, shells_per_host=4)))
    env = ActivityEnvironment()

    async def step(name: str, host: str, extra: dict[str, object]) -> list[ItemOutcome]:
        sent = len(hosts.transports[host].scripts)
        items = [{"host": host, "vm": vm, **extra} for vm in VMS]
        outcomes = await env.run(plan.host_step, HostBatch(step=name, host=host, items=items))
        assert [o.error for o in outcomes] == [None] * len(VMS), outcomes
        commands = len(hosts.transports[host].scripts) - sent
        assert commands <= 6, f"{name}: {commands} commands for {len(VMS)} VMs"
        return outcomes

    checked = await step("failover_check_target", B1, {"network": "vSwitch-DR"})
    assert {o.result["state"] for o in checked} == {"Replicating"}
    await step("failover_shut_down", A1, {"mode": "turn_off"})
    await step("failover_prepare", A1, {})
    started = await step("failover_start", B1, {})
    assert {o.result["state"] for o in started} == {"FailedOverWaitingCompletion"}
    await step("failover_start_vm", B1, {})
    hosts.backend.advance(600)
    verified = await step("failover_verify", B1, {"timeout_s": 600, "time_scale": 1000, "poll_s": 1})
    assert all((o.result["heartbeat"] or "").startswith("Ok") for o in verified), verified
    assert all(hosts.calls("Start-VMFailover", vm, B1) == 1 for vm in VMS)


async def test_a_missing_target_switch_fails_every_vm_of_the_batch_with_the_hosts_reason() -> None:
    hosts = LabHosts(lab_topology(VMS[:3], disk_gb=1))
    for vm in VMS[:3]:
        hosts.host(A1).enable_replication(vm, ReplicationSettings(replica_server=B1))
        hosts.host(A1).start_initial_replication(vm)
    hosts.backend.advance(3600)
    plan = PlanActivities(FailoverActivities(hosts, HostCalls(hosts)))
    items = [{"host": B1, "vm": vm, "network": "vSwitch-Nowhere"} for vm in VMS[:3]]
    outcomes = await ActivityEnvironment().run(
        plan.host_step, HostBatch(step="failover_check_target", host=B1, items=items)
    )
    assert [o.error_type for o in outcomes] == ["TargetNetworkMissing"] * 3
    assert all("no virtual switch 'vSwitch-Nowhere'" in (o.error or "") for o in outcomes)


class _Inventory:
    """Placements as the worker's inventory keeps them: all-or-nothing transactions, unknown VMs refused."""

    def __init__(self, known: list[str]) -> None:
        self.where = {vm: "" for vm in known}
        self.transactions = 0

    def record_placement(self, vm: str, host: str, site: str) -> None:
        self.record_placements([(vm, host, site)])

    def record_placements(self, placed: Sequence[tuple[str, str, str]]) -> None:
        self.transactions += 1
        unknown = [vm for vm, _, _ in placed if vm not in self.where]
        if unknown:
            raise NotFound(f"unknown VM {unknown[0]!r}: `hvdr vms` lists the known ones")
        self.where.update({vm: host for vm, host, _ in placed})


async def test_a_batch_records_its_vms_placements_in_one_transaction_and_an_unknown_vm_fails_alone() -> None:
    hosts = LabHosts(lab_topology(VMS[:1]))
    inventory = _Inventory(VMS)
    plan = PlanActivities(FailoverActivities(hosts, HostCalls(hosts), inventory))
    items = [{"vm": vm, "host": B1, "site": "site-b"} for vm in VMS]
    step = HostBatch(step="failover_record_placement", host="inventory", items=items)
    outcomes = await ActivityEnvironment().run(plan.host_step, step)
    assert [o.error for o in outcomes] == [None] * len(VMS)
    assert inventory.transactions == 1 and set(inventory.where.values()) == {B1}

    inventory = _Inventory(VMS[1:])
    plan = PlanActivities(FailoverActivities(hosts, HostCalls(hosts), inventory))
    outcomes = await ActivityEnvironment().run(plan.host_step, step)
    assert outcomes[0].error is not None and "unknown VM 'vm-00'" in outcomes[0].error
    assert [o.error for o in outcomes[1:]] == [None] * (len(VMS) - 1)
    assert set(inventory.where.values()) == {B1}
