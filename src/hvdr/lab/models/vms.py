"""Virtual machines: power state machine, network adapters, integration services, the guest's view.

Power semantics (reference §1.11, ``Stop-VM``): the default stop is a guest shutdown, which needs the
guest's shutdown integration service (a VM still booting has none yet → ``InvalidState``)
and takes the guest's ``shutdown_s`` (``hvdr.lab.models.guest`` times it); ``-TurnOff`` powers off;
``-Save`` saves state. *Saved is not Off*: a saved VM must be started or turned off (``-TurnOff`` discards
the saved state) before a failover can use it. Starting an already running VM or stopping an Off one is a
no-op, as Hyper-V only warns.

The guest: a cold start boots for ``boot_s`` (plus a ``slow_boot`` fault's seconds); only then, and only
while its integration services run (the ``integration_services_off`` fault stops them), does it answer the
heartbeat and report its IP addresses over KVP. The failover IP configured on an adapter is injected at
the first boot after a failover and applied by the guest once booted with its integration services.
"""

from __future__ import annotations

import dataclasses
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
    from hvdr.lab.models.hosts import LabHost
    from hvdr.lab.models.replication import Relationship

BOOT_SECONDS = 30.0
"""Simulated seconds from Start-VM until the guest's integration services answer (default)."""
SHUTDOWN_SECONDS = 30.0
"""Simulated seconds a guest takes to shut down (default; a Windows server takes 20-60 s)."""

INTEGRATION_SERVICES = (
    ("Guest Service Interface", False),
    ("Heartbeat", True),
    ("Key-Value Pair Exchange", True),
    ("Shutdown", True),
    ("Time Synchronization", True),
    ("VSS", True),
)


@dataclass
class FailoverIP:
    """One address family of ``Set-VMNetworkAdapterFailoverConfiguration`` (IPv4: a subnet mask; IPv6: a
    prefix length)."""

    address: str
    subnet: str
    default_gateway: str | None = None
    preferred_dns_server: str | None = None
    alternate_dns_server: str | None = None


@dataclass
class Shutdown:
    """A guest shutdown in progress (Stop-VM without -TurnOff)."""

    force: bool
    off_at: float | None
    """When the guest finishes shutting down (None: a hung guest never does)."""
    deadline: float
    """When Hyper-V gives up: ``-Force`` then turns the VM off, a plain Stop-VM fails."""
    outcome: str | None = None
    """``off`` or ``timeout`` once decided."""


@dataclass
class NetworkAdapter:
    name: str
    mac_address: str
    switch_name: str | None = None
    ip_addresses: list[str] = field(default_factory=list)
    """What the guest has configured (reported over KVP only while it answers)."""
    failover_ipv4: FailoverIP | None = None
    failover_ipv6: FailoverIP | None = None
    test_switch_name: str | None = None
    """``Set-VMNetworkAdapter -TestReplicaSwitchName``: where a test-failover VM's copy of it connects."""
    id: str = field(default_factory=lambda: str(uuid.uuid4()).upper())

    def copy(self, switch_name: str | None) -> NetworkAdapter:
        """The same adapter (MAC, guest addresses, failover configuration) on another copy of the VM."""
        return NetworkAdapter(
            self.name,
            self.mac_address,
            switch_name,
            list(self.ip_addresses),
            dataclasses.replace(self.failover_ipv4) if self.failover_ipv4 else None,
            dataclasses.replace(self.failover_ipv6) if self.failover_ipv6 else None,
        )

    def failover_addresses(self) -> list[str]:
        return [c.address for c in (self.failover_ipv4, self.failover_ipv6) if c is not None]


class VirtualMachine:
    """One VM on one host (a primary and its replica are two of these with the same id)."""

    def __init__(
        self,
        host: LabHost,
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
        boot_s: float = BOOT_SECONDS,
        shutdown_s: float = SHUTDOWN_SECONDS,
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
        self.last_write_at: float | None = None
        """When the guest last wrote to its disks (split-brain detection)."""
        self.boot_s = boot_s
        self.shutdown_s = shutdown_s
        self.booted_at: float | None = None
        """When the running guest finishes booting (its integration services answer from then on)."""
        self.stopping: Shutdown | None = None
        self.hung = False
        """``hung_guest`` fault: the guest accepts a shutdown request and never completes it."""
        self.integration_services_off = False
        """``integration_services_off`` fault: no heartbeat, KVP or shutdown service in the guest."""
        self.slow_boot_s = 0.0
        """``slow_boot`` fault: extra seconds every boot takes."""
        self.failover_ip_pending = False
        """A failover happened: the next boot injects the adapters' failover IP configuration (KVP)."""

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

    def replicated_checksum(self) -> str:
        """Over the disks replication carries: an excluded disk (a pagefile) never reaches the replica, so a
        failed-over copy is compared with its source on these alone."""
        return disks_checksum([d for d in self.disks if not d.excluded])

    def like(self, other: VirtualMachine) -> None:
        """Take the guest's timings from another copy of the same VM."""
        self.boot_s = other.boot_s
        self.shutdown_s = other.shutdown_s

    def heartbeat(self, now: float) -> VMHeartbeatStatus | None:
        if self.state is not VMState.Running or self.booted_at is None:
            return None
        if now < self.booted_at or self.integration_services_off:
            return VMHeartbeatStatus.NoContact
        if not self.guest_responsive:
            return VMHeartbeatStatus.LostCommunication
        return VMHeartbeatStatus.OkApplicationsUnknown

    def guest_ready(self, now: float) -> bool:
        """The guest has booted and its integration services answer (heartbeat, KVP, shutdown, VSS)."""
        ready = self.heartbeat(now) is VMHeartbeatStatus.OkApplicationsUnknown
        if ready and self.failover_ip_pending:
            # The KVP item injected at boot: the guest applies the failover configuration it finds.
            self.failover_ip_pending = False
            for adapter in self.adapters:
                if adapter.failover_ipv4 or adapter.failover_ipv6:
                    adapter.ip_addresses = adapter.failover_addresses()
        return ready

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
            self.started_at = now
            # A saved VM resumes its running guest; a cold start boots it.
            self.booted_at = now if previous is VMState.Saved else now + self.boot_s + self.slow_boot_s
        return previous

    def power_off(self) -> None:
        self.state = VMState.Off
        self.started_at = self.booted_at = None
        self._end_shutdown()

    def _end_shutdown(self) -> None:
        """Whatever ended it (turned off, saved, a crash), a shutdown in progress is over: its waiter returns."""
        if self.stopping is not None and self.stopping.outcome is None:
            self.stopping.outcome = "off"
        self.stopping = None

    def stop(self, now: float, *, force: bool = False, turn_off: bool = False, save: bool = False) -> bool:
        """Stop-VM's immediate part: True when the VM is now Off or Saved (or was), False when the guest
        must be asked to shut down (``hvdr.lab.models.guest.shut_down`` does that over time)."""
        previous = self.state
        if previous is VMState.Off:
            return True
        if previous is VMState.Saved:
            if not (turn_off or force):
                raise errors.invalid_state(
                    self.name, previous.name, "Use -TurnOff to discard the saved state and turn it off."
                )
            self.power_off()
            return True
        if save:
            self.state = VMState.Saved
            self.started_at = self.booted_at = None
            self._end_shutdown()
            return True
        if turn_off:
            self.power_off()
            return True
        if not self.guest_ready(now):
            if force:  # no shutdown service to ask: -Force turns it off at once
                self.power_off()
                return True
            raise errors.invalid_state(
                self.name,
                previous.name,
                "The guest operating system did not respond to the shutdown request: the Shutdown "
                "integration service is not available. Use -Force or -TurnOff.",
            )
        return False

    # -- pipeline objects ---------------------------------------------------------------------------------

    def adapter_object(self, adapter: NetworkAdapter, now: float) -> ModelObject:
        return ModelObject(
            HV + "VMNetworkAdapter",
            {
                "Name": adapter.name,
                "Id": f"Microsoft:{str(self.id).upper()}\\{adapter.id}",
                "VMName": self.name,
                "VMId": self.id,
                "SwitchName": adapter.switch_name,
                "TestReplicaSwitchName": adapter.test_switch_name,
                "MacAddress": adapter.mac_address,
                "Status": ["Ok"] if self.state is VMState.Running else [],
                "IPAddresses": list(adapter.ip_addresses) if self.guest_ready(now) else [],
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
            "NetworkAdapters": [self.adapter_object(a, now) for a in self.adapters],
            "HardDrives": self.drive_objects(),
            "ComputerName": self.host.short_name,
            "IsDeleted": False,
        }
        return ModelObject(HV + "VirtualMachine", props, ref=self)


def mac_for(vm_id: uuid.UUID, index: int) -> str:
    """A stable Hyper-V style MAC (00155D prefix) for a VM's n-th adapter."""
    tail = (vm_id.int + index) & 0xFFFFFF
    return f"00155D{tail:06X}"
