"""Failover's host steps, one activity each; every one reads the host's state before it acts.

Changes are sent as ``partial(host.method, vm, …)`` so that a recovery plan's batch can send many VMs' like
changes as one array command (:mod:`hvdr.activities.coalesce`). A retry after a crash finds the step's effect
in place (the VM Off, the primary PreparedForFailover, the replica FailedOverWaitingCompletion, …) and returns
without sending anything, so the lab's call log shows each state-changing cmdlet once however often a worker
dies. A command whose answer was lost is followed by a read, never re-sent blindly
(:meth:`hvdr.activities.common.HostCalls.change`). Long host work (a guest's shutdown, the final sync, a boot)
heartbeats through :class:`HostCalls`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from functools import partial
from typing import Protocol, runtime_checkable

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from hvdr.activities.common import HostCalls, refused
from hvdr.activities.hosts import Hosts
from hvdr.activities.protection import HostVM
from hvdr.errors import NotFound
from hvdr.failover import FailoverAddress, FailoverSpec, ShutdownMode
from hvdr.hyperv import models as hv
from hvdr.hyperv.protocol import HyperVHost
from hvdr.recovery_points import LATEST, RecoveryPointInfo
from hvdr.testfailover import TestFailoverSpec
from hvdr.topology import same_host

S = hv.ReplicationState


@runtime_checkable
class Placements(Protocol):
    """Where the inventory records a VM's host (the worker's inventory implements it)."""

    def record_placement(self, vm: str, host: str, site: str) -> None: ...
    def record_placements(self, placed: Sequence[tuple[str, str, str]]) -> None: ...


class SourceCheck(BaseModel):
    host: str
    vm: str
    replica_host: str
    force: bool = False
    """Accept Critical health when the last replication is at most ``max_point_age_s`` host seconds old."""
    max_point_age_s: float = 3600.0


class TargetCheck(BaseModel):
    host: str
    vm: str
    network: str | None = None
    failover_ip: FailoverAddress | None = None
    read_only: bool = False
    """A dry run: report, set nothing (a missing failover IP is set by the real run)."""


class ShutdownInput(BaseModel):
    host: str
    vm: str
    mode: ShutdownMode = "graceful"


class ConnectInput(BaseModel):
    host: str
    vm: str
    network: str


class VerifyInput(BaseModel):
    host: str
    vm: str
    failover_ip: str | None = None
    timeout_s: float
    """Host seconds the guest has to answer."""
    time_scale: float = 1.0
    poll_s: float = 1.0
    """Host seconds between reads of the heartbeat: every second of late detection is a second of RTO, and a
    plan reads all of a host's VMs in one command (it was 5 s: up to 5 s lost per group)."""

    @classmethod
    def at_target(cls, spec: FailoverSpec | TestFailoverSpec, vm: str | None = None) -> VerifyInput:
        """Verify ``vm`` (the spec's VM unless named, e.g. its test VM) on the spec's target host."""
        return cls(
            host=spec.target.host,
            vm=vm or spec.vm,
            failover_ip=spec.failover_ip.address if spec.failover_ip else None,
            timeout_s=spec.boot_timeout_s,
            time_scale=spec.time_scale,
        )


class Verified(BaseModel):
    heartbeat: str | None
    ip_addresses: list[str]

    def describe(self) -> str:
        return f"heartbeat {self.heartbeat}; guest reports {', '.join(self.ip_addresses) or 'no address'}"


class PlacementInput(BaseModel):
    vm: str
    host: str
    site: str


def point_infos(snapshots: list[hv.RecoveryPoint], latest: hv.ReplicationInfo) -> list[RecoveryPointInfo]:
    """The replica's recovery points, oldest first, then its latest state (id ``latest``) when it has one."""
    points = [
        RecoveryPointInfo(
            id=str(p.id),
            time=p.creation_time,
            type="application-consistent" if p.snapshot_type is hv.SnapshotType.APP_CONSISTENT_REPLICA else "standard",
            name=p.name,
        )
        for p in snapshots
    ]
    if latest.last_replication_time is not None:
        points.append(RecoveryPointInfo(id=LATEST, time=latest.last_replication_time, type="standard", name="Latest"))
    return points


class FailoverActivities:
    """Bound to one worker's hosts; registered on the site task queues."""

    def __init__(self, hosts: Hosts, calls: HostCalls | None = None, placements: Placements | None = None) -> None:
        self.calls = calls or HostCalls(hosts)
        self.placements = placements

    async def _vm(self, name: str, vm: str) -> tuple[HyperVHost, hv.VMInfo]:
        host = await self.calls.host(name)
        return host, await self.calls.run(name, host.get_vm, vm)

    async def _replication(self, host: HyperVHost, name: str, vm: str) -> hv.ReplicationInfo:
        return await self.calls.run(name, host.get_replication, vm)

    # -- preflight -------------------------------------------------------------------------------------------

    @activity.defn(name="failover_check_source")
    async def check_source(self, request: SourceCheck) -> hv.VMInfo:
        """The source answers, the VM replicates from it to the expected replica, and replication is healthy."""
        host, vm = await self._vm(request.host, request.vm)
        if vm.replication_mode is not hv.ReplicationMode.PRIMARY:
            raise refused(
                f"{request.vm} is not a primary on {request.host} (replication mode {vm.replication_mode.value}): "
                "a planned failover starts from the VM's primary copy",
                "NotPrimary",
            )
        rep = await self._replication(host, request.host, request.vm)
        if not same_host(rep.replica_server or "", request.replica_host):
            raise refused(
                f"{request.vm} replicates to {rep.replica_server}, not {request.replica_host}: refresh the inventory "
                "(`hvdr discover`) or fail over to where it replicates",
                "WrongReplica",
            )
        if rep.state is not S.REPLICATING:
            raise refused(
                f"replication of {request.vm} is {rep.state.value} (health {rep.health.value}); a planned failover "
                "needs it Replicating: resume or resynchronize it first (--force does not skip this)",
                "ReplicationNotHealthy",
            )
        if rep.health is hv.ReplicationHealth.CRITICAL:
            await self._forced_past_critical(host, request, rep)
        return vm

    async def _forced_past_critical(self, host: HyperVHost, request: SourceCheck, rep: hv.ReplicationInfo) -> None:
        """Critical health with the state Replicating (a failed send, missed cycles): an administrator fails over
        anyway when told to and the replica is recent, since the prepare's final sync sends what is pending."""
        if not request.force:
            raise refused(
                f"replication of {request.vm} is Replicating but its health is Critical: fix it first, or pass "
                f"--force to fail over anyway when the last replication is at most "
                f"{request.max_point_age_s:.0f} s old",
                "ReplicationNotHealthy",
            )
        now = await self.calls.run(request.host, host.get_host_time)
        last = rep.last_replication_time
        age = (now - last).total_seconds() if last is not None else None
        if age is None or age > request.max_point_age_s:
            when = "never" if age is None else f"{age:.0f} s ago"
            raise refused(
                f"replication of {request.vm} is Critical and its last replication was {when}, more than "
                f"{request.max_point_age_s:.0f} s: --force fails over only a recent replica; resynchronize first",
                "ReplicationNotHealthy",
            )

    @activity.defn(name="failover_check_target")
    async def check_target(self, request: TargetCheck) -> hv.ReplicationInfo:
        """The replica host answers, holds the replica Off and Replicating, has the mapped network, and the
        replica carries the declared failover IP (set now when missing, as protection should have)."""
        name = request.host
        host, vm = await self._vm(name, request.vm)
        rep = await self._replication(host, name, request.vm)
        if vm.replication_mode is not hv.ReplicationMode.REPLICA or rep.state not in (S.REPLICATING,):
            raise refused(
                f"the replica of {request.vm} on {name} is {vm.replication_mode.value}/{rep.state.value}, not a "
                "Replicating replica",
                "ReplicaNotReady",
            )
        if vm.state is not hv.VMState.OFF:
            raise refused(
                f"the replica of {request.vm} on {name} is {vm.state.value}; it must be Off", "ReplicaRunning"
            )
        if request.network is not None:
            await self._require_switch(host, name, request.network)
        if request.failover_ip is not None and not request.read_only:
            await self._ensure_failover_ip(host, name, request.vm, request.failover_ip)
        return rep

    async def _require_switch(self, host: HyperVHost, name: str, network: str) -> None:
        switches = await self.calls.run(name, host.list_switches)  # once per host in a plan's batch
        if not any(s.name.lower() == network.lower() for s in switches):
            raise refused(
                f"{name} has no virtual switch {network!r} (the network mapping's target): create it "
                "on the host or fix the topology's network_mappings",
                "TargetNetworkMissing",
            )

    async def _ensure_failover_ip(self, host: HyperVHost, name: str, vm: str, ip: FailoverAddress) -> None:
        calls = self.calls
        config = hv.FailoverIPConfig(
            ipv4_address=ip.address,
            ipv4_subnet_mask=ip.subnet_mask,
            ipv4_default_gateway=ip.default_gateway,
            ipv4_preferred_dns=ip.preferred_dns_server,
        )

        async def configured() -> list[hv.NetworkAdapter] | None:
            settings = await calls.run(name, host.get_failover_ip, vm)
            if not any(s.config.ipv4_address == ip.address for s in settings):
                return None
            return await calls.run(name, host.get_network_adapters, vm)

        await calls.ensure(
            name,
            "Set-VMNetworkAdapterFailoverConfiguration",
            lambda: host.set_failover_ip(vm, config),
            configured,
            idempotent=True,
        )

    # -- the sequence ---------------------------------------------------------------------------------------

    @activity.defn(name="failover_shut_down")
    async def shut_down(self, request: ShutdownInput) -> hv.VMInfo:
        """Stop the guest (Off is done); a guest that does not stop fails the step with the host's words."""
        calls, name = self.calls, request.host
        host, vm = await self._vm(name, request.vm)
        if vm.state is hv.VMState.OFF:
            return vm
        mode = {"graceful": hv.StopMode.SHUTDOWN, "force": hv.StopMode.FORCE, "turn_off": hv.StopMode.TURN_OFF}

        async def off() -> hv.VMInfo | None:
            now = await calls.run(name, host.get_vm, request.vm)
            return now if now.state is hv.VMState.OFF else None

        try:
            return await calls.change(
                name, "Stop-VM", partial(host.stop_vm, request.vm, mode[request.mode]), off, idempotent=True
            )
        except ApplicationError as error:
            if error.non_retryable and error.type == "OutcomeUnknown":
                raise
            done = await off()
            if done is not None:
                return done
            hint = "" if request.mode != "graceful" else " (--shutdown force turns it off after Hyper-V's window)"
            message = f"the guest of {request.vm} did not shut down: {error.message}{hint}"
            raise refused(message, "GuestShutdownFailed") from None

    @activity.defn(name="failover_prepare")
    async def prepare(self, request: HostVM) -> hv.ReplicationInfo:
        """Start-VMFailover -Prepare on the source: the final sync of pending changes (zero data loss)."""
        return await self.calls.replication_step(
            request.host,
            request.vm,
            "Start-VMFailover -Prepare",
            lambda state: state is S.PREPARED_FOR_FAILOVER,
            lambda h: partial(h.prepare_failover, request.vm),
        )

    @activity.defn(name="failover_start")
    async def fail_over(self, request: HostVM) -> hv.ReplicationInfo:
        """Start-VMFailover on the replica (latest point, which the prepare made complete)."""
        calls, name = self.calls, request.host
        host = await calls.host(name)

        async def there() -> hv.FailoverResult | None:
            rep = await calls.run(name, host.get_replication, request.vm)
            done = rep.state in (S.FAILED_OVER_WAITING_COMPLETION, S.FAILED_OVER)
            return hv.FailoverResult(replication=rep) if done else None

        # partial, not a lambda: a plan's batch sends many VMs' Start-VMFailover as one command
        started = await calls.ensure(
            name, "Start-VMFailover", partial(host.start_failover, request.vm), there, idempotent=True
        )
        return started.replication

    @activity.defn(name="failover_connect")
    async def connect(self, request: ConnectInput) -> list[hv.NetworkAdapter]:
        calls, name = self.calls, request.host
        host = await calls.host(name)

        async def connected() -> list[hv.NetworkAdapter] | None:
            adapters = await calls.run(name, host.get_network_adapters, request.vm)
            ok = adapters and all((a.switch_name or "").lower() == request.network.lower() for a in adapters)
            return adapters if ok else None

        return await calls.ensure(
            name,
            "Connect-VMNetworkAdapter",
            partial(host.connect_network_adapter, request.vm, request.network),
            connected,
            idempotent=True,
        )

    @activity.defn(name="failover_start_vm")
    async def start_vm(self, request: HostVM) -> hv.VMInfo:
        calls, name = self.calls, request.host
        host = await calls.host(name)

        async def running() -> hv.VMInfo | None:
            vm = await calls.run(name, host.get_vm, request.vm)
            return vm if vm.state is hv.VMState.RUNNING else None

        return await calls.ensure(name, "Start-VM", partial(host.start_vm, request.vm), running, idempotent=True)

    @activity.defn(name="failover_verify")
    async def verify(self, request: VerifyInput) -> Verified:
        """Wait for the guest's heartbeat (and its failover IP when one is declared) within the boot timeout."""
        calls, name = self.calls, request.host
        host = await calls.host(name)
        deadline = time.monotonic() + request.timeout_s / request.time_scale
        poll = max(request.poll_s / request.time_scale, 0.05)
        heartbeat: str | None = None
        addresses: list[str] = []
        while True:
            vm = await calls.run(name, host.get_vm, request.vm)
            if vm.state is not hv.VMState.RUNNING:
                raise refused(f"{request.vm} on {name} is {vm.state.value}, not Running", "VerifyFailed")
            beat = await calls.run(name, host.get_heartbeat, request.vm)
            heartbeat = beat.status
            healthy = (beat.status or "").startswith("Ok")
            if healthy:
                adapters = await calls.run(name, host.get_network_adapters, request.vm)
                addresses = [ip for a in adapters for ip in a.ip_addresses]
                if request.failover_ip is None or request.failover_ip in addresses:
                    return Verified(heartbeat=heartbeat, ip_addresses=addresses)
            if time.monotonic() >= deadline:
                if not healthy:
                    raise refused(
                        f"no heartbeat from the guest of {request.vm} within {request.timeout_s:.0f} s after start "
                        f"(heartbeat {heartbeat or 'none'})",
                        "VerifyFailed",
                    )
                raise refused(
                    f"the guest of {request.vm} reports {', '.join(addresses) or 'no address'}, not its failover "
                    f"IP {request.failover_ip}, {request.timeout_s:.0f} s after start",
                    "VerifyFailed",
                )
            activity.heartbeat(["verify"])
            await asyncio.sleep(poll)

    @activity.defn(name="failover_reverse")
    async def reverse(self, request: HostVM) -> hv.ReplicationInfo:
        """Set-VMReplication -Reverse on the failed-over copy: it becomes the primary, the old source its replica."""
        calls, name = self.calls, request.host
        host = await calls.host(name)

        async def reversed_() -> hv.ReplicationInfo | None:
            rep = await calls.run(name, host.get_replication, request.vm)
            return rep if rep.mode is hv.ReplicationMode.PRIMARY else None

        return await calls.ensure(
            name,
            "Set-VMReplication -Reverse",
            partial(host.reverse_replication, request.vm),
            reversed_,
            idempotent=True,
        )

    @activity.defn(name="failover_record_placement")
    async def record_placement(self, request: PlacementInput) -> str:
        if self.placements is None:
            raise refused("this worker has no inventory to record the VM's placement in", "NoInventory")
        try:
            await self._place(self.placements, request.vm, request.host, request.site)
        except NotFound as error:  # the inventory does not know the VM (or host): no retry will change that
            raise refused(f"inventory: {error}", "NotInInventory") from None
        return f"inventory: {request.vm} runs on {request.host}"

    async def _place(self, placements: Placements, vm: str, host: str, site: str) -> None:
        await asyncio.to_thread(placements.record_placement, vm, host, site)

    # -- compensation ---------------------------------------------------------------------------------------

    @activity.defn(name="failover_stop")
    async def stop_failover(self, request: HostVM) -> hv.ReplicationInfo:
        """Stop-VMFailover: on the replica it turns the copy off and reverts it to Replicating; on the source it
        cancels the prepare. Nothing to stop (already reverted) is done."""
        pending = {S.FAILED_OVER_WAITING_COMPLETION, S.PREPARED_FOR_FAILOVER, S.RECOVERY_IN_PROGRESS}
        return await self.calls.replication_step(
            request.host,
            request.vm,
            "Stop-VMFailover",
            lambda state: state not in pending,
            lambda h: partial(h.stop_failover, request.vm),
        )
