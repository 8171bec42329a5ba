"""Test failover's own host steps (the rest are planned failover's: check the replica, connect, start, verify).

Each reads the replica's state before it acts: a retry after a crash finds the test VM created (or removed)
and sends nothing. Nothing here touches the primary or the replica's replication: ``Start-VMFailover -AsTest``
and ``Stop-VMFailover`` with a test VM present only create and delete "<vm> - Test". ``Stop-VMFailover`` is
sent only while the replica names a test VM, since without one it would revert a real failover.
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from hvdr.activities.common import HostCalls, refused
from hvdr.activities.failover import point_infos
from hvdr.activities.hosts import Hosts
from hvdr.activities.protection import HostVM
from hvdr.failover import failover_workflow_id
from hvdr.hyperv import models as hv
from hvdr.hyperv.protocol import HyperVHost
from hvdr.hyperv.scripts import ps_quote
from hvdr.protection import Phase, ProtectionStatus, protection_workflow_id
from hvdr.recovery_points import choose_point
from hvdr.testfailover import RecoveryPointChoice

S = hv.ReplicationState
TESTABLE = (S.REPLICATING, S.SUSPENDED)
"""Replication states a test failover may start from (Hyper-V refuses it while resynchronizing)."""


class TestSwitchInput(BaseModel):
    __test__ = False

    host: str
    vm: str
    network: str | None = None
    read_only: bool = False
    """A plan's dry run: check the switch is there, point nothing."""


class TestStart(BaseModel):
    __test__ = False

    host: str
    vm: str
    point: RecoveryPointChoice = RecoveryPointChoice()


class TestStarted(BaseModel):
    __test__ = False

    test_vm: str
    point: str


class Leftovers(BaseModel):
    replication: str
    """The replica's replication state and health after the clean-up (unchanged by the test)."""
    detail: str


class OperationsCheck(BaseModel):
    vm: str


class TestFailoverActivities:
    """Bound to one worker's hosts; registered on the site task queues."""

    __test__ = False

    def __init__(self, hosts: Hosts, calls: HostCalls | None = None) -> None:
        self.calls = calls or HostCalls(hosts)

    async def _replication(self, host: HyperVHost, name: str, vm: str) -> hv.ReplicationInfo:
        return await self.calls.run(name, host.get_replication, vm)

    @activity.defn(name="testfailover_prepare_replica")
    async def prepare_replica(self, request: TestSwitchInput) -> str:
        """No test failover of the VM in progress, replication in a state that allows one, and the replica's
        adapters pointing their TestReplicaSwitchName at the mapped test network (set when they do not)."""
        calls, name = self.calls, request.host
        host = await calls.host(name)
        rep = await self._replication(host, name, request.vm)
        if rep.test_vm_name is not None:
            raise refused(
                f"a test failover of {request.vm} is already in progress on {name} ({rep.test_vm_name!r} exists): "
                f"clean it up first (`hvdr failover test cleanup --vm {request.vm}`, or Stop-VMFailover on {name})",
                "TestFailoverInProgress",
            )
        if rep.state not in TESTABLE:
            raise refused(
                f"replication of {request.vm} is {rep.state.value} on {name}; a test failover needs it Replicating "
                "(or Suspended)",
                "ReplicationNotHealthy",
            )
        if request.network is None:
            return "no test network mapped: the test VM stays unconnected"
        network = request.network

        async def pointed() -> list[hv.NetworkAdapter] | None:
            adapters = await calls.run(name, host.get_network_adapters, request.vm)
            ok = all((a.test_replica_switch_name or "").lower() == network.lower() for a in adapters)
            return adapters if ok else None

        if request.read_only:  # the switch itself: failover_check_target, with the test network
            already = await pointed()
            if already is not None:
                return f"{len(already)} adapter(s) of the replica test-connect to {network}"
            return f"the replica's adapters would be pointed at the test network {network}"
        adapters = await calls.ensure(
            name,
            "Set-VMNetworkAdapter -TestReplicaSwitchName",
            lambda: host.set_test_switch(request.vm, network),
            pointed,
            idempotent=True,
        )
        return f"{len(adapters)} adapter(s) of the replica test-connect to {network}"

    @activity.defn(name="testfailover_start")
    async def start(self, request: TestStart) -> TestStarted:
        """Start-VMFailover -AsTest on the replica: "<vm> - Test" from the chosen state; done when it exists."""
        calls, name = self.calls, request.host
        host = await calls.host(name)
        rep = await self._replication(host, name, request.vm)
        if rep.test_vm_name is not None:  # a retry: the test VM was created by the attempt that died
            return TestStarted(test_vm=rep.test_vm_name, point=request.point.describe())
        point = await self._point(host, name, request.vm, request.point, rep)

        async def created() -> hv.FailoverResult | None:
            now = await self._replication(host, name, request.vm)
            return hv.FailoverResult(replication=now, test_vm_name=now.test_vm_name) if now.test_vm_name else None

        result = await calls.change(
            name,
            "Start-VMFailover -AsTest",
            lambda: host.start_failover(request.vm, recovery_point=point.id if point else None, as_test=True),
            created,
            idempotent=False,
        )
        described = request.point.describe() if point is None else f"{point.name} ({point.snapshot_type.value})"
        return TestStarted(test_vm=result.test_vm_name or f"{request.vm} - Test", point=described)

    async def _point(
        self, host: HyperVHost, name: str, vm: str, choice: RecoveryPointChoice, rep: hv.ReplicationInfo
    ) -> hv.RecoveryPoint | None:
        """The snapshot the choice means; None = the replica's latest state."""
        if choice.kind == "latest":
            return None
        snapshots = await self.calls.run(name, host.list_recovery_points, vm)
        try:
            chosen = choose_point(point_infos(snapshots, rep), choice.text())
        except ValueError as e:
            raise refused(f"{vm} on {name}: {e}", "NoSuchRecoveryPoint") from None
        return next((p for p in snapshots if str(p.id) == chosen.id), None)

    @activity.defn(name="testfailover_remove")
    async def remove(self, request: HostVM) -> str:
        """Stop-VMFailover on the replica: the test VM is turned off and deleted; replication goes on."""
        calls, name = self.calls, request.host
        host = await calls.host(name)

        async def removed() -> hv.ReplicationInfo | None:
            rep = await self._replication(host, name, request.vm)
            return rep if rep.test_vm_name is None else None

        rep = await calls.ensure(
            name, "Stop-VMFailover", lambda: host.stop_failover(request.vm), removed, idempotent=True
        )
        return f"the test VM of {request.vm} is removed; replication {rep.state.value}/{rep.health.value}"

    @activity.defn(name="testfailover_confirm")
    async def confirm(self, request: HostVM) -> Leftovers:
        """Nothing left behind on the replica host: no test VM, no snapshot but recovery points."""
        calls, name = self.calls, request.host
        host = await calls.host(name)
        rep = await self._replication(host, name, request.vm)
        test_name = f"{request.vm} - Test"
        vms = await calls.run(name, host.list_vms)
        left = [v.name for v in vms if v.name.lower() == test_name.lower()]
        kinds = " -and ".join(f"$_.SnapshotType -ne '{t.value}'" for t in sorted(hv.RECOVERY_POINT_TYPES))
        script = f"@(Get-VMSnapshot -VMName {ps_quote(request.vm)} | Where-Object {{ {kinds} }}).Count"
        snapshots = (await calls.run(name, host.run_script, script, 60.0)).stdout.strip()
        problems = []
        if rep.test_vm_name is not None:
            problems.append(f"the replica still names a test VM ({rep.test_vm_name!r})")
        if left:
            problems.append(f"{', '.join(repr(v) for v in left)} still exists")
        if snapshots not in ("", "0"):
            problems.append(f"{snapshots} snapshot(s) besides recovery points on the replica")
        if problems:
            raise refused(
                f"the test failover of {request.vm} left something behind on {name}: " + "; ".join(problems),
                "LeftBehind",
            )
        return Leftovers(
            replication=f"{rep.state.value}/{rep.health.value}",
            detail=f"no test VM, no snapshot besides recovery points on {name}; replication {rep.state.value}",
        )


class TestFailoverLinks:
    """Registered on the workflow task queue's worker: what other runs hold the VM (reads only)."""

    __test__ = False

    def __init__(self, client: Client) -> None:
        self.client = client

    @activity.defn(name="testfailover_check_operations")
    async def check_operations(self, request: OperationsCheck) -> ProtectionStatus:
        """The VM is protected, its protection runs in a phase that allows a test, and no failover runs on it."""
        return await refuse_conflicts(self.client, request.vm)


async def refuse_conflicts(client: Client, vm: str) -> ProtectionStatus:
    """Raise (non-retryable, with a one-line reason) when a test failover of ``vm`` may not start now."""
    failover = client.get_workflow_handle(failover_workflow_id(vm))
    try:
        running = (await failover.describe()).status is WorkflowExecutionStatus.RUNNING
    except RPCError:
        running = False
    if running:
        raise refused(
            f"{vm} is being failed over ({failover.id}): a test failover waits until it ends "
            f"(`hvdr show {failover.id}`)",
            "OperationConflict",
        )
    protection = client.get_workflow_handle(protection_workflow_id(vm))
    try:
        # A closed run still answers queries (by replay) with its last phase: only a running one protects the VM.
        if (await protection.describe()).status is not WorkflowExecutionStatus.RUNNING:
            raise LookupError(protection.id)
        status: ProtectionStatus = await protection.query("status", result_type=ProtectionStatus)
    except (RPCError, LookupError):
        status = ProtectionStatus.unknown(vm, protection.id, "no protection run")
    if status.phase is Phase.FAILOVER:
        raise refused(
            f"{vm} is being failed over (its protection stands by for another operation): a test failover waits "
            "until it ends (`hvdr runs --vm " + vm + "`)",
            "OperationConflict",
        )
    if status.phase not in (Phase.REPLICATING, Phase.PAUSED):
        raise refused(
            f"{vm} is not protected and replicating (protection is {status.phase.value}): protect it first "
            f"(`hvdr protect enable --vm {vm}`) and let the initial copy finish",
            "NotProtected",
        )
    return status
