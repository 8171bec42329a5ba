"""Protection's activities: each looks at the current state first and acts only if needed.

A retry after a crash is harmless: enabling a VM that is already Primary towards the same replica returns
its state; starting an initial copy that is already running (or done) returns its state; so the lab's call
counts show each state-changing cmdlet once however often the worker dies.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from hvdr.activities.common import call
from hvdr.hyperv import models as hv
from hvdr.protection import ProtectionPolicy, ProtectionSpec
from hvdr.worker.hosts import HostDirectory


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


@dataclass
class _HostSample:
    taken: float
    reports: dict[str, hv.ReplicationHealthReport]
    host_time: datetime


class ProtectionActivities:
    """Bound to one worker's host directory; registered on the site task queues."""

    def __init__(self, hosts: HostDirectory) -> None:
        self.hosts = hosts
        self._samples: dict[str, _HostSample] = {}
        self._sampling: dict[str, asyncio.Lock] = {}

    @activity.defn(name="ensure_replica_server")
    async def ensure_replica_server(self, request: ReplicaServerInput) -> hv.ReplicationServerInfo:
        host = await call(self.hosts.host, request.host)
        current = await call(host.get_replication_server)
        wanted = request.settings
        if wanted is None and not current.replication_enabled:
            raise ApplicationError(
                f"{request.host} is not a Replica server (Set-VMReplicationServer -ReplicationEnabled $true), "
                "and the topology does not let hvdr configure it",
                type="ReplicaServerNotConfigured",
                non_retryable=True,
            )
        if wanted is not None and not (current.replication_enabled and _satisfies(current, wanted)):
            current = await call(host.configure_replica_server, wanted)
        if request.needed_bytes and current.default_storage_location:
            drive = await call(host.get_drive_space, current.default_storage_location)
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
        host = await call(self.hosts.host, request.host)
        result = await call(host.test_replication_connection, request.settings)
        if not result.succeeded:
            # Usually the network between sites or the replica's listener: worth retrying for a while.
            raise ApplicationError(
                f"{request.host} cannot reach the replica server: {result.message}", type="ReplicaServerUnreachable"
            )
        return result

    @activity.defn(name="enable_replication")
    async def enable_replication(self, request: ReplicationInput) -> hv.ReplicationInfo:
        host = await call(self.hosts.host, request.host)
        vm = await call(host.get_vm, request.vm)  # Get-VMReplication fails on a VM that does not replicate
        if vm.replication_mode is hv.ReplicationMode.PRIMARY:
            current = await call(host.get_replication, request.vm)
            if (current.replica_server or "").lower() == request.settings.replica_server.lower():
                return current
            raise ApplicationError(
                f"{request.vm} already replicates to {current.replica_server}, not {request.settings.replica_server}",
                type="InvalidReplicationState",
                non_retryable=True,
            )
        settings = request.settings
        if settings.excluded_vhd_paths:
            # The topology names disks; Enable-VMReplication wants the attached VHD's full path.
            by_name = {path.replace("\\", "/").rsplit("/", 1)[-1].lower(): path for path in vm.hard_drive_paths}
            paths = [
                by_name.get(p.replace("\\", "/").rsplit("/", 1)[-1].lower(), p) for p in settings.excluded_vhd_paths
            ]
            settings = settings.model_copy(update={"excluded_vhd_paths": paths})
        return await call(host.enable_replication, request.vm, settings)

    @activity.defn(name="start_initial_replication")
    async def start_initial_replication(self, request: InitialReplicationInput) -> hv.ReplicationInfo:
        host = await call(self.hosts.host, request.host)
        current = await call(host.get_replication, request.vm)
        if current.state is not hv.ReplicationState.READY_FOR_INITIAL_REPLICATION:
            return current
        return await call(
            host.start_initial_replication,
            request.vm,
            request.method,
            start_time=request.start_time,
            destination_path=request.export_path,
        )

    @activity.defn(name="import_initial_replication")
    async def import_initial_replication(self, request: ImportInput) -> hv.ReplicationInfo:
        host = await call(self.hosts.host, request.host)
        current = await call(host.get_replication, request.vm)
        if current.state is not hv.ReplicationState.WAITING_FOR_INITIAL_REPLICATION:
            return current
        return await call(host.import_initial_replication, request.vm, request.path)

    @activity.defn(name="measure_replication")
    async def measure_replication(self, request: MeasureInput) -> Measurement:
        sample = await self._sample(request.host, request.max_age_s)
        return Measurement(report=sample.reports.get(request.vm.lower()), host_time=sample.host_time)

    async def _sample(self, host_name: str, max_age_s: float) -> _HostSample:
        key = host_name.lower()
        lock = self._sampling.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._samples.get(key)
            if cached is not None and time.monotonic() - cached.taken < max_age_s:
                return cached
            host = await call(self.hosts.host, host_name)
            reports = await call(host.measure_replication, None)
            host_time = await call(host.get_host_time)
            sample = _HostSample(time.monotonic(), {r.vm_name.lower(): r for r in reports}, host_time)
            self._samples[key] = sample
            return sample

    @activity.defn(name="suspend_replication")
    async def suspend_replication(self, request: HostVM) -> hv.ReplicationInfo:
        host = await call(self.hosts.host, request.host)
        current = await call(host.get_replication, request.vm)
        if current.state is hv.ReplicationState.SUSPENDED:
            return current
        return await call(host.suspend_replication, request.vm)

    @activity.defn(name="resume_replication")
    async def resume_replication(self, request: HostVM) -> hv.ReplicationInfo:
        host = await call(self.hosts.host, request.host)
        current = await call(host.get_replication, request.vm)
        if current.state in (hv.ReplicationState.REPLICATING, hv.ReplicationState.RESYNCHRONIZING):
            return current
        return await call(host.resume_replication, request.vm)

    @activity.defn(name="resynchronize_replication")
    async def resynchronize_replication(self, request: ResyncInput) -> hv.ReplicationInfo:
        host = await call(self.hosts.host, request.host)
        current = await call(host.get_replication, request.vm)
        if current.state is hv.ReplicationState.RESYNCHRONIZING:
            return current
        if current.state is hv.ReplicationState.REPLICATING:
            # A forced resync of a healthy VM: suspend, then resume with -Resynchronize.
            await call(host.suspend_replication, request.vm)
        return await call(host.resynchronize_replication, request.vm, request.start_at)

    @activity.defn(name="update_replication")
    async def update_replication(self, request: UpdateInput) -> hv.ReplicationInfo:
        host = await call(self.hosts.host, request.host)
        return await call(host.set_replication, request.vm, request.update)

    @activity.defn(name="remove_replication")
    async def remove_replication(self, request: HostVM) -> str:
        host = await call(self.hosts.host, request.host)
        names = {vm.name.lower(): vm for vm in await call(host.list_vms)}
        current = names.get(request.vm.lower())
        if current is None:
            return "no copy on this host"  # e.g. disabled before the replica was ever created
        if current.replication_mode is hv.ReplicationMode.NONE:
            return "already removed"
        await call(host.remove_replication, request.vm)
        return "removed"

    @activity.defn(name="delete_vm")
    async def delete_vm(self, request: HostVM) -> str:
        host = await call(self.hosts.host, request.host)
        vms = {vm.name.lower() for vm in await call(host.list_vms)}
        if request.vm.lower() not in vms:
            return "already deleted"
        await call(host.remove_vm, request.vm)
        return "deleted"


def _satisfies(current: hv.ReplicationServerInfo, wanted: hv.ReplicaServerSettings) -> bool:
    return (
        current.allowed_authentication_type == wanted.authentication_type
        and current.replication_allowed_from_any_server == wanted.allow_any_server
        and (current.kerberos_port or 80) == wanted.kerberos_port
    )
