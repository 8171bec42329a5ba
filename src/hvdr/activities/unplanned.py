"""Unplanned failover's own host steps (the rest are planned failover's): recovery points, the fence, the failover
from a chosen point, commit, and ``-AsReplica`` on the old primary for ``hvdr reverse``. Each reads the host's
state before it acts, so a retry after a crash sends nothing twice."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from temporalio import activity

from hvdr.activities.common import refused
from hvdr.activities.failover import FailoverActivities, point_infos
from hvdr.activities.protection import HostVM
from hvdr.failover import FailoverAddress
from hvdr.hyperv import models as hv
from hvdr.hyperv.protocol import HyperVHost
from hvdr.recovery_points import LATEST
from hvdr.unplanned import RecoveryPoints

S = hv.ReplicationState
FAILS_OVER_FROM = {S.REPLICATING, S.RESYNCHRONIZING, S.SUSPENDED, S.WAITING_FOR_UPDATE_COMPLETION}
"""Where Start-VMFailover on a replica is allowed (reference §1.11)."""
SUSPENDABLE = {S.REPLICATING, S.RESYNCHRONIZING, S.INITIAL_REPLICATION_IN_PROGRESS}


class ReplicaCheck(BaseModel):
    host: str
    vm: str
    network: str | None = None


class PointFailover(BaseModel):
    host: str
    vm: str
    point: str
    """A recovery point id, or "latest" (the replica's latest state: no snapshot)."""
    failover_ip: FailoverAddress | None = None


class AsReplicaInput(BaseModel):
    host: str
    vm: str
    allowed_primary: str | None = None


class UnplannedActivities(FailoverActivities):
    """Registered on the site task queues beside :class:`FailoverActivities` (same hosts, same limits)."""

    async def _points(self, host: HyperVHost, name: str, vm: str, rep: hv.ReplicationInfo) -> RecoveryPoints:
        snapshots = await self.calls.run(name, host.list_recovery_points, vm)
        return RecoveryPoints(vm=vm, host=name, points=point_infos(snapshots, rep))

    async def _turn_off(self, host: HyperVHost, name: str, vm: str) -> hv.VMInfo:
        """Power the copy off (Stop-VM -TurnOff): a fence, never a shutdown that a hung guest could hold up."""
        calls = self.calls

        async def off() -> hv.VMInfo | None:
            now = await calls.run(name, host.get_vm, vm)
            return now if now.state is hv.VMState.OFF else None

        return await calls.ensure(
            name, "Stop-VM -TurnOff", lambda: host.stop_vm(vm, hv.StopMode.TURN_OFF), off, idempotent=True
        )

    @activity.defn(name="unplanned_recovery_points")
    async def recovery_points(self, request: HostVM) -> RecoveryPoints:
        """The replica's recovery points (Get-VMSnapshot -SnapshotType Replica) and its latest state."""
        host, vm = await self._vm(request.host, request.vm)
        if vm.replication_mode is not hv.ReplicationMode.REPLICA:
            raise refused(
                f"{request.vm} on {request.host} is {vm.replication_mode.value}, not a replica: recovery points are "
                "on the replica host",
                "NotReplica",
            )
        rep = await self._replication(host, request.host, request.vm)
        return await self._points(host, request.host, request.vm, rep)

    @activity.defn(name="unplanned_check_replica")
    async def check_replica(self, request: ReplicaCheck) -> RecoveryPoints:
        """The replica host answers and holds an Off replica that can fail over (it received a replication),
        with the mapped network and the declared failover IP; returns its recovery points."""
        name = request.host
        host, vm = await self._vm(name, request.vm)
        rep = await self._replication(host, name, request.vm)
        if vm.replication_mode is not hv.ReplicationMode.REPLICA or rep.state not in FAILS_OVER_FROM:
            raise refused(
                f"the replica of {request.vm} on {name} is {vm.replication_mode.value}/{rep.state.value}: an "
                "unplanned failover starts from a replica that is Replicating, Suspended or Resynchronizing",
                "ReplicaNotReady",
            )
        if vm.state is not hv.VMState.OFF:
            raise refused(
                f"the replica of {request.vm} on {name} is {vm.state.value}; it must be Off", "ReplicaRunning"
            )
        if rep.last_replication_time is None:
            raise refused(f"the replica of {request.vm} on {name} never received a replication", "NoRecoveryPoint")
        if request.network is not None:
            await self._require_switch(host, name, request.network)
        return await self._points(host, name, request.vm, rep)

    @activity.defn(name="unplanned_probe")
    async def probe(self, request: HostVM) -> hv.VMInfo:
        """Does the old primary answer? (A read: nothing changes before the run decides to fence.)"""
        return (await self._vm(request.host, request.vm))[1]

    @activity.defn(name="unplanned_fence")
    async def fence(self, request: HostVM) -> str:
        """Make sure the old primary's copy cannot run on: turn it off, suspend its replication."""
        calls, name = self.calls, request.host
        host, vm = await self._vm(name, request.vm)
        done: list[str] = []
        if vm.state is not hv.VMState.OFF:
            await self._turn_off(host, name, request.vm)
            done.append(f"turned {request.vm} off on {name}")
        else:
            done.append(f"{request.vm} is Off on {name}")
        rep = await self._replication(host, name, request.vm)
        if rep.mode is hv.ReplicationMode.PRIMARY and rep.state in SUSPENDABLE:

            async def suspended() -> hv.ReplicationInfo | None:
                now = await calls.run(name, host.get_replication, request.vm)
                return now if now.state not in SUSPENDABLE else None

            await calls.ensure(
                name, "Suspend-VMReplication", lambda: host.suspend_replication(request.vm), suspended, idempotent=True
            )
            done.append("suspended its replication")
        else:
            done.append(f"its replication is {rep.mode.value}/{rep.state.value} (nothing to suspend)")
        return "; ".join(done)

    @activity.defn(name="unplanned_fail_over")
    async def fail_over_from(self, request: PointFailover) -> datetime:
        """Start-VMFailover on the replica, from the chosen recovery point (the declared failover IP set first
        when missing); returns the host's clock then."""
        calls, name = self.calls, request.host
        host = await calls.host(name)
        if request.failover_ip is not None:
            await self._ensure_failover_ip(host, name, request.vm, request.failover_ip)

        async def there() -> hv.ReplicationInfo | None:
            rep = await calls.run(name, host.get_replication, request.vm)
            return rep if rep.state in (S.FAILED_OVER_WAITING_COMPLETION, S.FAILED_OVER) else None

        point = None if request.point == LATEST else uuid.UUID(request.point)
        await calls.ensure(
            name,
            "Start-VMFailover",
            lambda: host.start_failover(request.vm, recovery_point=point).replication,
            there,
            idempotent=True,
        )
        return await calls.run(name, host.get_host_time)

    @activity.defn(name="unplanned_complete")
    async def complete(self, request: HostVM) -> hv.ReplicationInfo:
        """Complete-VMFailover: the failover is committed (the other recovery points are merged away)."""
        calls, name = self.calls, request.host
        host = await calls.host(name)

        async def committed() -> hv.ReplicationInfo | None:
            rep = await calls.run(name, host.get_replication, request.vm)
            return rep if rep.state is S.FAILED_OVER or rep.mode is hv.ReplicationMode.PRIMARY else None

        return await calls.ensure(
            name, "Complete-VMFailover", lambda: host.complete_failover(request.vm), committed, idempotent=True
        )

    @activity.defn(name="unplanned_as_replica")
    async def as_replica(self, request: AsReplicaInput) -> hv.ReplicationInfo:
        """On the old primary, back after an unplanned failover: its copy off (it must never run beside the
        failed-over one), then Set-VMReplication -AsReplica (it waits for the initial replication)."""
        calls, name = self.calls, request.host
        host, vm = await self._vm(name, request.vm)

        async def waiting() -> hv.ReplicationInfo | None:
            rep = await calls.run(name, host.get_replication, request.vm)
            return rep if rep.mode is hv.ReplicationMode.REPLICA else None

        found = await waiting()
        if found is not None:
            return found
        if vm.state is not hv.VMState.OFF:
            await self._turn_off(host, name, request.vm)
        return await calls.change(
            name,
            "Set-VMReplication -AsReplica",
            lambda: host.set_as_replica(request.vm, request.allowed_primary),
            waiting,
            idempotent=True,
        )
