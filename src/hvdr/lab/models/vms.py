"""Virtual machines: power state machine, network adapters, integration services.

Power semantics (reference §1.11, ``Stop-VM``): the default stop is a guest shutdown, which needs the
guest's shutdown integration service (a VM still booting has none yet → ``InvalidState``);
``-Force`` shuts down regardless; ``-TurnOff`` powers off; ``-Save`` saves state. *Saved is not Off*: a saved
VM must be started or turned off (``-TurnOff`` discards the saved state) before a failover can use it.
Starting an already running VM or stopping an Off one is a no-op, as Hyper-V only warns.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hvdr.lab.models import errors
from hvdr.lab.models.clock import to_datetime
from hvdr.lab.models.disks import VirtualDisk, disks_checksum
from hvdr.lab.models.enums import (
    VMHeartbeatStatus,
    VMIntegrationComponentOperationalStatus,
    VMReplicationHealthState,
    VMReplicationMode,
    VMReplicationState,
    VMState,
)
from hvdr.lab.models.objects import HV, ModelObject

if TYPE_CHECKING:
    from hvdr.lab.models.hosts import HyperVHost
    from hvdr.lab.models.replication import Relationship

BOOT_SECONDS = 30.0
"""Simulated seconds from Start-VM until the guest's integration services answer."""

INTEGRATION_SERVICES = (
    ("Guest Service Interface", False),
    ("Heartbeat", True),
    ("Key-Value Pair Exchange", True),
    ("Shutdown", True),
    ("Time Synchronization", True),
    ("VSS", True),
)


@dataclass
class NetworkAdapter:
    name: str
    mac_address: str
    switch_name: str | None = None
    ip_addresses: list[str] = field(default_factory=list)
    failover_ipv4: dict[str, str | None] | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()).upper())


class VirtualMachine:
    """One VM on one host (a primary and its replica are two of these with the same id)."""

    def __init__(
        self,
        host: HyperVHost,
        name: str,
        vm_id: uuid.UUID,
        disks: list[VirtualDisk],
        *,
        processor_count: int = 2,
        memory_bytes: int = 4 * 1024**3,
        generation: int = 2,
        path: str = "",
        tier: str | None = None,
        tags: list[str] | None = None,
        created: float = 0.0,
    ) -> None:
        self.host = host
        self.name = name
        self.id = vm_id
        self.disks = disks
        self.processor_count = processor_count
        self.memory_bytes = memory_bytes
        self.generation = generation
        self.path = path
        self.tier = tier
        self.tags = list(tags or [])
        self.created = created
        self.state = VMState.Off
        self.started_at: float | None = None
        self.adapters: list[NetworkAdapter] = []
        self.replication: Relationship | None = None
        self.test_of: VirtualMachine | None = None
        """For a test-failover VM: the replica it was created from."""
        self.guest_responsive = True
        self.written_until = created
        """The workload has generated this VM's guest writes up to this simulated time."""

    # -- identity and state -------------------------------------------------------------------------------

    @property
    def mode(self) -> VMReplicationMode:
        if self.test_of is not None:
            return VMReplicationMode.TestReplica
        return self.replication.mode if self.replication else VMReplicationMode.None_

    @property
    def replication_state(self) -> VMReplicationState:
        return self.replication.state if self.replication else VMReplicationState.Disabled

    def checksum(self) -> str:
        return disks_checksum(self.disks)

    def heartbeat(self, now: float) -> VMHeartbeatStatus | None:
        if self.state is not VMState.Running or self.started_at is None:
            return None
        if now - self.started_at < BOOT_SECONDS:
            return VMHeartbeatStatus.NoContact
        if not self.guest_responsive:
            return VMHeartbeatStatus.LostCommunication
        return VMHeartbeatStatus.OkApplicationsUnknown

    def guest_ready(self, now: float) -> bool:
        return self.heartbeat(now) is VMHeartbeatStatus.OkApplicationsUnknown

    # -- power state machine ------------------------------------------------------------------------------

    def start(self, now: float) -> VMState:
        """Start-VM; returns the previous state."""
        previous = self.state
        rel = self.replication
        if rel is not None and self.test_of is None:
            if rel.mode is VMReplicationMode.Replica and rel.state not in (
                VMReplicationState.FailedOverWaitingCompletion,
                VMReplicationState.FailedOver,
            ):
                raise errors.invalid_replication_state(self.name, rel.state.name, "Start-VM")
            if rel.mode is VMReplicationMode.Primary and rel.state is VMReplicationState.PreparedForFailover:
                raise errors.invalid_replication_state(self.name, rel.state.name, "Start-VM")
        if previous in (VMState.Off, VMState.Saved):
            self.state = VMState.Running
            self.written_until = now
            # A saved VM resumes its running guest; a cold start boots it.
            self.started_at = now - BOOT_SECONDS if previous is VMState.Saved else now
        return previous

    def stop(self, now: float, *, force: bool = False, turn_off: bool = False, save: bool = False) -> VMState:
        """Stop-VM; returns the previous state."""
        previous = self.state
        if previous is VMState.Off:
            return previous
        if previous is VMState.Saved:
            if not (turn_off or force):
                raise errors.invalid_state(
                    self.name, previous.name, "Use -TurnOff to discard the saved state and turn it off."
                )
            self.state = VMState.Off
            return previous
        if save:
            self.state = VMState.Saved
            self.started_at = None
            return previous
        if not (turn_off or force) and not self.guest_ready(now):
            raise errors.invalid_state(
                self.name,
                previous.name,
                "The guest operating system did not respond to the shutdown request: the Shutdown "
                "integration service is not available. Use -Force or -TurnOff.",
            )
        self.state = VMState.Off
        self.started_at = None
        return previous

    # -- pipeline objects ---------------------------------------------------------------------------------

    def adapter_object(self, adapter: NetworkAdapter) -> ModelObject:
        return ModelObject(
            HV + "VMNetworkAdapter",
            {
                "Name": adapter.name,
                "Id": f"Microsoft:{str(self.id).upper()}\\{adapter.id}",
                "VMName": self.name,
                "VMId": self.id,
                "SwitchName": adapter.switch_name,
                "MacAddress": adapter.mac_address,
                "Status": ["Ok"] if self.state is VMState.Running else [],
                "IPAddresses": list(adapter.ip_addresses) if self.state is VMState.Running else [],
                "Connected": adapter.switch_name is not None,
                "IsLegacy": False,
                "ComputerName": self.host.short_name,
                "IsDeleted": False,
            },
            ref=(self, adapter),
        )

    def drive_objects(self) -> list[ModelObject]:
        return [
            ModelObject(
                HV + "HardDiskDrive",
                {
                    "Name": f"Hard Drive on SCSI controller number 0 at location {index}",
                    "Path": disk.path,
                    "ControllerType": "SCSI",
                    "ControllerNumber": 0,
                    "ControllerLocation": index,
                    "VMName": self.name,
                    "VMId": self.id,
                    "ComputerName": self.host.short_name,
                },
                ref=(self, disk),
            )
            for index, disk in enumerate(self.disks)
        ]

    def integration_objects(self, now: float) -> list[ModelObject]:
        running = self.state is VMState.Running
        heartbeat = self.heartbeat(now)
        objects = []
        for name, enabled in INTEGRATION_SERVICES:
            status: VMIntegrationComponentOperationalStatus | None = None
            if running and enabled:
                if heartbeat is VMHeartbeatStatus.OkApplicationsUnknown:
                    status = VMIntegrationComponentOperationalStatus.Ok
                elif heartbeat is VMHeartbeatStatus.LostCommunication:
                    status = VMIntegrationComponentOperationalStatus.LostCommunication
                else:
                    status = VMIntegrationComponentOperationalStatus.NoContact
            description = (
                {
                    VMIntegrationComponentOperationalStatus.Ok: "OK",
                    VMIntegrationComponentOperationalStatus.NoContact: "No Contact",
                    VMIntegrationComponentOperationalStatus.LostCommunication: "Lost Communication",
                }.get(status)
                if status is not None
                else None
            )
            secondary = None
            if name == "Heartbeat" and status is VMIntegrationComponentOperationalStatus.Ok:
                secondary = "OK"
            objects.append(
                ModelObject(
                    HV + "VMIntegrationComponent",
                    {
                        "Name": name,
                        "VMName": self.name,
                        "VMId": self.id,
                        "Enabled": enabled,
                        "OperationalStatus": [status] if status is not None else [],
                        "PrimaryOperationalStatus": status,
                        "PrimaryStatusDescription": description,
                        "SecondaryOperationalStatus": status if secondary else None,
                        "SecondaryStatusDescription": secondary,
                        "StatusDescription": [description] if description else [],
                        "Id": f"Microsoft:{str(self.id).upper()}\\{name}",
                        "ComputerName": self.host.short_name,
                        "IsDeleted": False,
                    },
                    ref=self,
                )
            )
        return objects

    def to_object(self, now: float) -> ModelObject:
        """Get-VM's VirtualMachine."""
        running = self.state is VMState.Running
        uptime = timedelta(seconds=int(now - self.started_at)) if running and self.started_at else timedelta(0)
        rel = self.replication
        if self.test_of is not None:
            health = VMReplicationHealthState.NotApplicable
        else:
            health = rel.health(now) if rel else VMReplicationHealthState.NotApplicable
        props: dict[str, Any] = {
            "Name": self.name,
            "Id": self.id,
            "VMName": self.name,
            "VMId": self.id,
            "State": self.state,
            "Status": "Operating normally",
            "CPUUsage": 3 if running else 0,
            "MemoryAssigned": self.memory_bytes if running else 0,
            "MemoryStartup": self.memory_bytes,
            "DynamicMemoryEnabled": False,
            "Uptime": uptime,
            "Heartbeat": self.heartbeat(now),
            "ProcessorCount": self.processor_count,
            "Generation": self.generation,
            "Version": "9.0",
            "Path": self.path,
            "ConfigurationLocation": self.path,
            "ReplicationHealth": health,
            "ReplicationMode": self.mode,
            "ReplicationState": VMReplicationState.Disabled if self.test_of else self.replication_state,
            "CreationTime": to_datetime(self.created),
            "Notes": "",
            "NetworkAdapters": [self.adapter_object(a) for a in self.adapters],
            "HardDrives": self.drive_objects(),
            "ComputerName": self.host.short_name,
            "IsDeleted": False,
        }
        return ModelObject(HV + "VirtualMachine", props, ref=self)


def mac_for(vm_id: uuid.UUID, index: int) -> str:
    """A stable Hyper-V style MAC (00155D prefix) for a VM's n-th adapter."""
    tail = (vm_id.int + index) & 0xFFFFFF
    return f"00155D{tail:06X}"
