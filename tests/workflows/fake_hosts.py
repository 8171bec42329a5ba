"""A small in-memory stand-in for protection's activities, for workflow tests that must run in seconds.

It registers under the real activity names (samples-python's idiom), keeps a per-VM replication state, and
follows the Temporal server's clock (the scheduled time of each activity), so time-skipping tests see RPO
move with simulated time. The end-to-end tests against the lab over WinRM are in tests/e2e.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from hvdr.activities.protection import (
    HostVM,
    ImportInput,
    InitialReplicationInput,
    MeasureInput,
    Measurement,
    ReplicaServerInput,
    ReplicationInput,
    ResyncInput,
    UpdateInput,
)
from hvdr.hyperv import models as hv


@dataclass
class FakeVM:
    state: hv.ReplicationState = hv.ReplicationState.DISABLED
    frequency: int = 300
    last_replication: datetime | None = None
    ir_started: datetime | None = None
    missed: int = 0


@dataclass
class FakeEstate:
    ir_duration: timedelta = timedelta(minutes=10)
    partitioned: bool = False
    refuse_removal: bool = False
    vms: dict[str, FakeVM] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)

    def _vm(self, name: str) -> FakeVM:
        return self.vms.setdefault(name, FakeVM())

    def _now(self) -> datetime:
        return activity.info().current_attempt_scheduled_time

    def _info(self, name: str) -> hv.ReplicationInfo:
        vm = self._vm(name)
        return hv.ReplicationInfo(
            vm_name=name,
            vm_id="00000000-0000-0000-0000-000000000001",
            state=vm.state,
            health=hv.ReplicationHealth.NORMAL,
            mode=hv.ReplicationMode.PRIMARY
            if vm.state is not hv.ReplicationState.DISABLED
            else hv.ReplicationMode.NONE,
            replica_server="hv-b1.site-b.lab.local",
            last_replication_time=vm.last_replication,
        )

    def activities(self) -> list[object]:
        estate = self

        @activity.defn(name="ensure_replica_server")
        async def ensure_replica_server(request: ReplicaServerInput) -> hv.ReplicationServerInfo:
            estate.calls["ensure_replica_server"] += 1
            return hv.ReplicationServerInfo(replication_enabled=True)

        @activity.defn(name="test_replication_connection")
        async def test_replication_connection(request: ReplicationInput) -> hv.ConnectionTestResult:
            estate.calls["test_replication_connection"] += 1
            return hv.ConnectionTestResult(succeeded=True, message="ok")

        @activity.defn(name="enable_replication")
        async def enable_replication(request: ReplicationInput) -> hv.ReplicationInfo:
            vm = estate._vm(request.vm)
            if vm.state is hv.ReplicationState.DISABLED:
                estate.calls["Enable-VMReplication"] += 1
                vm.state = hv.ReplicationState.READY_FOR_INITIAL_REPLICATION
                vm.frequency = request.settings.frequency_sec
            return estate._info(request.vm)

        @activity.defn(name="start_initial_replication")
        async def start_initial_replication(request: InitialReplicationInput) -> hv.ReplicationInfo:
            vm = estate._vm(request.vm)
            if vm.state is hv.ReplicationState.READY_FOR_INITIAL_REPLICATION:
                estate.calls["Start-VMInitialReplication"] += 1
                vm.state = hv.ReplicationState.INITIAL_REPLICATION_IN_PROGRESS
                vm.ir_started = estate._now()
            return estate._info(request.vm)

        @activity.defn(name="import_initial_replication")
        async def import_initial_replication(request: ImportInput) -> hv.ReplicationInfo:
            return estate._info(request.vm)

        @activity.defn(name="measure_replication")
        async def measure_replication(request: MeasureInput) -> Measurement:
            estate.calls["measure_replication"] += 1
            now = estate._now()
            vm = estate._vm(request.vm)
            total = 100 * 2**20
            pending = 0
            if vm.state is hv.ReplicationState.INITIAL_REPLICATION_IN_PROGRESS and vm.ir_started:
                done = (now - vm.ir_started) / estate.ir_duration
                if done >= 1:
                    vm.state, vm.last_replication = hv.ReplicationState.REPLICATING, now
                else:
                    pending = int(total * (1 - done))
            elif vm.state is hv.ReplicationState.REPLICATING:
                if estate.partitioned:
                    vm.missed += 1
                else:
                    vm.last_replication = now - timedelta(seconds=min(vm.frequency, 60))
            behind = (now - vm.last_replication).total_seconds() if vm.last_replication else 0
            health = (
                hv.ReplicationHealth.NORMAL
                if behind < 3600 and not estate.partitioned
                else (hv.ReplicationHealth.CRITICAL if behind >= 3600 else hv.ReplicationHealth.WARNING)
            )
            report = hv.ReplicationHealthReport(
                vm_name=request.vm,
                state=vm.state,
                health=health,
                mode=hv.ReplicationMode.PRIMARY,
                last_replication_time=vm.last_replication,
                pending_replication_bytes=pending,
                initial_replication_bytes=total,
                missed_replication_count=vm.missed,
            )
            return Measurement(report=report, host_time=now)

        @activity.defn(name="suspend_replication")
        async def suspend_replication(request: HostVM) -> hv.ReplicationInfo:
            estate.calls["Suspend-VMReplication"] += 1
            estate._vm(request.vm).state = hv.ReplicationState.SUSPENDED
            return estate._info(request.vm)

        @activity.defn(name="resume_replication")
        async def resume_replication(request: HostVM) -> hv.ReplicationInfo:
            estate.calls["Resume-VMReplication"] += 1
            estate._vm(request.vm).state = hv.ReplicationState.REPLICATING
            return estate._info(request.vm)

        @activity.defn(name="resynchronize_replication")
        async def resynchronize_replication(request: ResyncInput) -> hv.ReplicationInfo:
            estate.calls["Resynchronize"] += 1
            estate._vm(request.vm).state = hv.ReplicationState.REPLICATING
            return estate._info(request.vm)

        @activity.defn(name="update_replication")
        async def update_replication(request: UpdateInput) -> hv.ReplicationInfo:
            estate.calls["Set-VMReplication"] += 1
            if request.update.frequency_sec:
                estate._vm(request.vm).frequency = request.update.frequency_sec
            return estate._info(request.vm)

        @activity.defn(name="remove_replication")
        async def remove_replication(request: HostVM) -> str:
            if estate.refuse_removal:
                raise ApplicationError(
                    "the host refused: access denied", type="AuthenticationFailed", non_retryable=True
                )
            estate.calls[f"Remove-VMReplication@{request.host}"] += 1
            estate._vm(request.vm).state = hv.ReplicationState.DISABLED
            return "removed"

        @activity.defn(name="delete_vm")
        async def delete_vm(request: HostVM) -> str:
            estate.calls["Remove-VM"] += 1
            return "deleted"

        return [
            ensure_replica_server,
            test_replication_connection,
            enable_replication,
            start_initial_replication,
            import_initial_replication,
            measure_replication,
            suspend_replication,
            resume_replication,
            resynchronize_replication,
            update_replication,
            remove_replication,
            delete_vm,
        ]
