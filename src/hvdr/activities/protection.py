"""Protection's activities: each looks at the current state first and acts only if needed.

A retry after a crash is harmless: enabling a VM that is already Primary towards the same replica returns
its state; starting an initial copy that is already running (or done) returns its state; so the lab's call
counts show each state-changing cmdlet once however often the worker dies. A command whose answer was lost
is followed by a read, never re-sent blindly (:meth:`hvdr.activities.common.HostCalls.change`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from hvdr.activities.common import HostCalls, earlier_attempt_sent
from hvdr.activities.hosts import Hosts
from hvdr.hyperv import models as hv
from hvdr.protection import ProtectionPolicy, ProtectionSpec, Reading
from hvdr.topology import host_key, same_host


class HostVM(BaseModel):
    host: str
    vm: str


class ReplicaServerInput(BaseModel):
    host: str
    settings: hv.ReplicaServerSettings | None
    """Declared settings to enforce; None = only check that the host accepts replication."""
    needed_bytes: int = 0
    """The replica's size: the storage must have this much free (with a 10% margin); 0 = unknown, not checked."""


class ReplicationInput(BaseModel):
    host: str
    vm: str
    settings: hv.ReplicationSettings


class InitialReplicationInput(BaseModel):
    host: str
    vm: str
    method: hv.InitialReplicationMethod
    start_time: datetime | None = None
    export_path: str | None = None


class ImportInput(BaseModel):
    host: str
    vm: str
    path: str


class ResyncInput(BaseModel):
    host: str
    vm: str
    start_at: datetime | None = None


class UpdateInput(BaseModel):
    host: str
    vm: str
    update: hv.ReplicationUpdate


class MeasureInput(BaseModel):
    host: str
    vm: str
    max_age_s: float
    """A host measured less than this long ago is not asked again: one Measure-VMReplication serves all."""


class Measurement(BaseModel):
    report: hv.ReplicationHealthReport | None
    host_time: datetime
    """The host's clock when it measured: RPO is host time minus last replication, immune to clock skew."""


class HostMeasureInput(BaseModel):
    host: str
    vms: list[str]
    """The VMs whose readings are wanted (the host reports all of its VMs; only these are returned)."""
    max_age_s: float = 0


class HostReadings(BaseModel):
    host_time: datetime
    readings: dict[str, Reading]
    """By VM name in lower case; a VM the host did not report (it does not replicate there) is missing."""


def reading_of(report: hv.ReplicationHealthReport, host_time: datetime) -> Reading:
    return Reading(
        state=report.state,
        health=report.health,
        health_details=list(report.health_details),
        last_replication=report.last_replication_time,
        missed_cycles=report.missed_replication_count,
        host_time=host_time,
    )


def replication_settings(spec: ProtectionSpec) -> hv.ReplicationSettings:
    """Enable-VMReplication's settings from the protection's policy (protection → driver is mapped only here)."""
    policy = spec.policy
    return hv.ReplicationSettings(
        replica_server=spec.replica.host,
        replica_port=policy.auth.effective_port,
        authentication_type=hv.AuthenticationType(policy.auth.type.capitalize()),
        certificate_thumbprint=policy.auth.certificate_thumbprint,
        frequency_sec=policy.copy_frequency_s,
        recovery_history=policy.recovery_point_hours,
        vss_snapshot_frequency_hour=policy.app_consistent_hours or None,
        compression_enabled=policy.compression,
        excluded_vhd_paths=spec.excluded_vhd_paths,
    )


def replication_update(policy: ProtectionPolicy) -> hv.ReplicationUpdate:
    """Set-VMReplication's settings for a changed policy."""
    return hv.ReplicationUpdate(
        frequency_sec=policy.copy_frequency_s,
        recovery_history=policy.recovery_point_hours,
        vss_snapshot_frequency_hour=policy.app_consistent_hours or None,
        compression_enabled=policy.compression,
    )


def replica_server_settings(spec: ProtectionSpec) -> hv.ReplicaServerSettings | None:
    """Set-VMReplicationServer's settings from the replica host's declaration; None when hvdr does not manage it."""
    declared = spec.replica_server
    if declared is None or not declared.enabled:
        return None
    kinds = {"kerberos": "Kerberos", "certificate": "Certificate", "certificate_and_kerberos": "CertificateAndKerberos"}
    return hv.ReplicaServerSettings(
        authentication_type=hv.ServerAuthenticationType(kinds[declared.authentication]),
        allow_any_server=declared.allowed_from_any_server,
        default_storage_location=declared.default_storage_location,
        kerberos_port=declared.kerberos_port,
        certificate_port=declared.certificate_port if declared.authentication != "kerberos" else None,
        certificate_thumbprint=declared.certificate_thumbprint,
    )


def _scheduled_at() -> float:
    """When Temporal scheduled this activity (the workflows' clock, which ``max_age_s`` is counted in)."""
    if activity.in_activity():
        return activity.info().current_attempt_scheduled_time.timestamp()
    return time.time()


@dataclass
class _HostSample:
    taken: float
    """The scheduled time of the measurement that took it."""
    reports: dict[str, hv.ReplicationHealthReport]
    host_time: datetime


class ProtectionActivities:
    """Bound to one worker's hosts; registered on the site task queues.

    Each state change goes through :meth:`HostCalls.change`: the activity first reads the state (a retry
    after a crash finds the work done and returns it), sends the change, and when the answer is lost reads
    the state back instead of sending blindly.
    """

    def __init__(self, hosts: Hosts, calls: HostCalls | None = None) -> None:
        self.calls = calls or HostCalls(hosts)
        self._samples: dict[str, _HostSample] = {}
        self._sampling: dict[str, asyncio.Lock] = {}

    async def _replication(self, host: str, vm: str) -> hv.ReplicationInfo:
        driver = await self.calls.host(host)
        return await self.calls.run(host, driver.get_replication, vm)

    @activity.defn(name="ensure_replica_server")
    async def ensure_replica_server(self, request: ReplicaServerInput) -> hv.ReplicationServerInfo:
        calls, name = self.calls, request.host
        host = await calls.host(name)
        current = await calls.run(name, host.get_replication_server)
        wanted = request.settings
        if wanted is None and not current.replication_enabled:
            raise ApplicationError(
                f"{request.host} is not a Replica server (Set-VMReplicationServer -ReplicationEnabled $true), "
                "and the topology does not let hvdr configure it",
                type="ReplicaServerNotConfigured",
                non_retryable=True,
            )
        if wanted is not None and not (current.replication_enabled and _satisfies(current, wanted)):

            async def configured() -> hv.ReplicationServerInfo | None:
                now = await calls.run(name, host.get_replication_server)
                return now if now.replication_enabled and _satisfies(now, wanted) else None

            current = await calls.change(
                name,
                "Set-VMReplicationServer",
                lambda: host.configure_replica_server(wanted),
                configured,
                idempotent=True,
            )
        if request.needed_bytes and current.default_storage_location:
            drive = await calls.run(name, host.get_drive_space, current.default_storage_location)
            needed = int(request.needed_bytes * 1.1)
            if drive.free_bytes < needed:
                raise ApplicationError(
                    f"no room for the replica on {request.host}: {current.default_storage_location} has "
                    f"{drive.free_bytes / 2**30:.0f} GiB free, the replica needs {needed / 2**30:.0f} GiB "
                    "(with a 10% margin); free space there or choose another recovery host",
                    type="InsufficientReplicaStorage",
                    non_retryable=True,
                )
        return current

    @activity.defn(name="test_replication_connection")
    async def test_replication_connection(self, request: ReplicationInput) -> hv.ConnectionTestResult:
        host = await self.calls.host(request.host)
        result = await self.calls.run(request.host, host.test_replication_connection, request.settings)
        if not result.succeeded:
            # Usually the network between sites or the replica's listener: worth retrying for a while.
            raise ApplicationError(
                f"{request.host} cannot reach the replica server: {result.message}", type="ReplicaServerUnreachable"
            )
        return result

    @activity.defn(name="enable_replication")
    async def enable_replication(self, request: ReplicationInput) -> hv.ReplicationInfo:
        calls, name = self.calls, request.host
        host = await calls.host(name)

        async def enabled() -> hv.ReplicationInfo | None:
            # Get-VMReplication fails on a VM that does not replicate: Get-VM says whether it does.
            vm = await calls.run(name, host.get_vm, request.vm)
            if vm.replication_mode is not hv.ReplicationMode.PRIMARY:
                return None
            current = await calls.run(name, host.get_replication, request.vm)
            if same_host(current.replica_server or "", request.settings.replica_server):
                return current
            raise ApplicationError(
                f"{request.vm} already replicates to {current.replica_server}, not {request.settings.replica_server}",
                type="InvalidReplicationState",
                non_retryable=True,
            )

        def send() -> hv.ReplicationInfo:
            settings = request.settings
            if settings.excluded_vhd_paths:
                # The topology names disks; Enable-VMReplication wants the attached VHD's full path.
                vm = host.get_vm(request.vm)
                by_name = {_file_name(path): path for path in vm.hard_drive_paths}
                paths = [by_name.get(_file_name(p), p) for p in settings.excluded_vhd_paths]
                settings = settings.model_copy(update={"excluded_vhd_paths": paths})
            return host.enable_replication(request.vm, settings)

        return await calls.ensure(
            name,
            "Enable-VMReplication",
            send,
            enabled,
            idempotent=True,
        )

    @activity.defn(name="start_initial_replication")
    async def start_initial_replication(self, request: InitialReplicationInput) -> hv.ReplicationInfo:
        return await self.calls.replication_step(
            request.host,
            request.vm,
            "Start-VMInitialReplication",
            lambda state: state is not hv.ReplicationState.READY_FOR_INITIAL_REPLICATION,
            lambda host: partial(
                host.start_initial_replication,
                request.vm,
                request.method,
                start_time=request.start_time,
                destination_path=request.export_path,
            ),
        )

    @activity.defn(name="import_initial_replication")
    async def import_initial_replication(self, request: ImportInput) -> hv.ReplicationInfo:
        return await self.calls.replication_step(
            request.host,
            request.vm,
            "Import-VMInitialReplication",
            lambda state: state is not hv.ReplicationState.WAITING_FOR_INITIAL_REPLICATION,
            lambda host: partial(host.import_initial_replication, request.vm, request.path),
        )

    @activity.defn(name="measure_replication")
    async def measure_replication(self, request: MeasureInput) -> Measurement:
        sample = await self._sample(request.host, request.max_age_s)
        return Measurement(report=sample.reports.get(request.vm.lower()), host_time=sample.host_time)

    @activity.defn(name="measure_host")
    async def measure_host(self, request: HostMeasureInput) -> HostReadings:
        """Every named VM of one host in one Measure-VMReplication (the host monitor's tick)."""
        sample = await self._sample(request.host, request.max_age_s)
        wanted = {vm.lower() for vm in request.vms}
        return HostReadings(
            host_time=sample.host_time,
            readings={
                vm: reading_of(report, sample.host_time) for vm, report in sample.reports.items() if vm in wanted
            },
        )

    async def _sample(self, host_name: str, max_age_s: float) -> _HostSample:
        key = host_key(host_name)
        lock = self._sampling.setdefault(key, asyncio.Lock())
        asked = _scheduled_at()
        async with lock:
            cached = self._samples.get(key)
            if cached is not None and asked - cached.taken < max_age_s:
                return cached
            host = await self.calls.host(host_name)
            reports = await self.calls.run(host_name, host.measure_replication, None)
            host_time = await self.calls.run(host_name, host.get_host_time)
            sample = _HostSample(asked, {r.vm_name.lower(): r for r in reports}, host_time)
            self._samples[key] = sample
            return sample

    @activity.defn(name="suspend_replication")
    async def suspend_replication(self, request: HostVM) -> hv.ReplicationInfo:
        return await self.calls.replication_step(
            request.host,
            request.vm,
            "Suspend-VMReplication",
            lambda state: state is hv.ReplicationState.SUSPENDED,
            lambda host: partial(host.suspend_replication, request.vm),
        )

    @activity.defn(name="resume_replication")
    async def resume_replication(self, request: HostVM) -> hv.ReplicationInfo:
        return await self.calls.replication_step(
            request.host,
            request.vm,
            "Resume-VMReplication",
            lambda state: state in (hv.ReplicationState.REPLICATING, hv.ReplicationState.RESYNCHRONIZING),
            lambda host: partial(host.resume_replication, request.vm),
        )

    @activity.defn(name="resynchronize_replication")
    async def resynchronize_replication(self, request: ResyncInput) -> hv.ReplicationInfo:
        """Resynchronize; a healthy VM is forced to (suspend, then resume with -Resynchronize).

        Not idempotent: a finished resync leaves the VM Replicating, as it was before a forced one, so once an
        attempt may have sent it, Replicating means done and nothing is sent again.
        """
        calls, name, vm = self.calls, request.host, request.vm
        step = "Resume-VMReplication -Resynchronize"
        host = await calls.host(name)
        current = await calls.run(name, host.get_replication, vm)
        resyncing = {hv.ReplicationState.RESYNCHRONIZING, hv.ReplicationState.REPLICATING}
        if current.state is hv.ReplicationState.RESYNCHRONIZING or (
            current.state in resyncing and earlier_attempt_sent(step)
        ):
            return current
        if current.state is hv.ReplicationState.REPLICATING:

            async def suspended() -> hv.ReplicationInfo | None:
                now = await calls.run(name, host.get_replication, vm)
                return now if now.state is not hv.ReplicationState.REPLICATING else None

            await calls.change(
                name, "Suspend-VMReplication", lambda: host.suspend_replication(vm), suspended, idempotent=True
            )

        async def resynchronized() -> hv.ReplicationInfo | None:
            now = await calls.run(name, host.get_replication, vm)
            return now if now.state in resyncing else None

        return await calls.change(
            name,
            step,
            lambda: host.resynchronize_replication(vm, request.start_at),
            resynchronized,
            idempotent=False,
        )

    @activity.defn(name="update_replication")
    async def update_replication(self, request: UpdateInput) -> hv.ReplicationInfo:
        calls, name = self.calls, request.host
        host = await calls.host(name)

        async def updated() -> hv.ReplicationInfo | None:
            current = await calls.run(name, host.get_replication, request.vm)
            return current if _applied(current, request.update) else None

        return await calls.change(
            name,
            "Set-VMReplication",
            lambda: host.set_replication(request.vm, request.update),
            updated,
            idempotent=True,
        )

    @activity.defn(name="remove_replication")
    async def remove_replication(self, request: HostVM) -> str:
        calls, name = self.calls, request.host
        host = await calls.host(name)

        async def removed() -> str | None:
            found = {vm.name.lower(): vm for vm in await calls.run(name, host.list_vms)}
            current = found.get(request.vm.lower())
            if current is None:
                return "no copy on this host"  # e.g. disabled before the replica was ever created
            return "already removed" if current.replication_mode is hv.ReplicationMode.NONE else None

        def send() -> str:
            host.remove_replication(request.vm)
            return "removed"

        return await calls.ensure(name, "Remove-VMReplication", send, removed, idempotent=True)

    @activity.defn(name="delete_vm")
    async def delete_vm(self, request: HostVM) -> str:
        calls, name = self.calls, request.host
        host = await calls.host(name)

        async def deleted() -> str | None:
            names = {vm.name.lower() for vm in await calls.run(name, host.list_vms)}
            return "already deleted" if request.vm.lower() not in names else None

        def send() -> str:
            host.remove_vm(request.vm)
            return "deleted"

        return await calls.ensure(name, "Remove-VM", send, deleted, idempotent=True)


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1].lower()


def _applied(current: hv.ReplicationInfo, update: hv.ReplicationUpdate) -> bool:
    """Every field the update sets has that value on the host (the replica server by the host-name rule, other
    text case-insensitively)."""
    for field, wanted in update.model_dump(exclude_none=True).items():
        have = getattr(current, field, None)
        if field == "replica_server" and isinstance(wanted, str) and isinstance(have, str):
            if not same_host(wanted, have):
                return False
        elif isinstance(wanted, str) and isinstance(have, str):
            if wanted.lower() != have.lower():
                return False
        elif have != wanted:
            return False
    return True


def _satisfies(current: hv.ReplicationServerInfo, wanted: hv.ReplicaServerSettings) -> bool:
    return (
        current.allowed_authentication_type == wanted.authentication_type
        and current.replication_allowed_from_any_server == wanted.allow_any_server
        and (current.kerberos_port or 80) == wanted.kerberos_port
    )
