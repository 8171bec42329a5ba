"""Hyper-V hosts: identity, virtual switches, and Replica-server settings as Set-VMReplicationServer sets them."""

from __future__ import annotations

import fnmatch
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hvdr.lab.models.enums import RecoveryAuthenticationType, VMReplicationServerOperationalStatus
from hvdr.lab.models.objects import HV, ModelObject
from hvdr.lab.models.vms import VirtualMachine


@dataclass
class AuthorizationEntry:
    """New-VMReplicationAuthorizationEntry: a primary server (wildcards allowed) and where its replicas go."""

    allowed_primary_server: str
    replica_storage_location: str
    trust_group: str = "default"

    def matches(self, primary_fqdn: str) -> bool:
        return fnmatch.fnmatch(primary_fqdn.lower(), self.allowed_primary_server.lower())


@dataclass
class ReplicaServer:
    """The host's Replica-server configuration (Msvm_ReplicationServiceSettingData defaults)."""

    enabled: bool = False
    auth: RecoveryAuthenticationType = RecoveryAuthenticationType.Kerberos
    kerberos_port: int = 80
    certificate_port: int = 443
    certificate_thumbprint: str | None = None
    allowed_from_any_server: bool = False
    default_storage_location: str | None = None
    authorization_entries: list[AuthorizationEntry] = field(default_factory=list)
    monitoring_interval: timedelta = timedelta(hours=12)
    monitoring_start_time: timedelta = timedelta(hours=9)

    def accepts_kerberos(self) -> bool:
        return self.auth in (RecoveryAuthenticationType.Kerberos, RecoveryAuthenticationType.CertificateAndKerberos)

    def accepts_certificate(self) -> bool:
        return self.auth in (
            RecoveryAuthenticationType.Certificate,
            RecoveryAuthenticationType.CertificateAndKerberos,
        )

    def storage_for(self, primary_fqdn: str) -> str | None:
        """Where replicas of that primary go, or None when it is not authorized."""
        for entry in self.authorization_entries:
            if entry.matches(primary_fqdn):
                return entry.replica_storage_location
        return self.default_storage_location if self.allowed_from_any_server else None


@dataclass
class VMSwitch:
    name: str
    switch_type: str = "External"
    id: uuid.UUID = field(default_factory=uuid.uuid4)


class LabHost:
    """One Hyper-V host and the VMs registered on it."""

    def __init__(
        self,
        fqdn: str,
        site: str,
        *,
        cloud: str | None = None,
        logical_processors: int = 16,
        memory_bytes: int = 256 * 1024**3,
        vm_path: str = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V",
        vhd_path: str = "C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks",
        switches: list[VMSwitch] | None = None,
        replica_server: ReplicaServer | None = None,
        replica_storage_bytes: int = 4096 * 1024**3,
    ) -> None:
        self.fqdn = fqdn
        self.replica_storage_bytes = replica_storage_bytes
        self.site = site
        self.cloud = cloud
        self.logical_processors = logical_processors
        self.memory_bytes = memory_bytes
        self.vm_path = vm_path
        self.vhd_path = vhd_path
        self.switches = list(switches or [])
        self.replica_server = replica_server or ReplicaServer()
        self.vms: dict[uuid.UUID, VirtualMachine] = {}

    @property
    def short_name(self) -> str:
        return self.fqdn.split(".", 1)[0].upper()

    def answers_to(self, name: str) -> bool:
        lowered = name.lower()
        return lowered in (self.fqdn.lower(), self.short_name.lower())

    def add_vm(self, vm: VirtualMachine) -> None:
        self.vms[vm.id] = vm

    def remove_vm(self, vm: VirtualMachine) -> None:
        self.vms.pop(vm.id, None)

    def vms_named(self, pattern: str) -> list[VirtualMachine]:
        """VMs whose name matches (PowerShell wildcards, case-insensitive)."""
        lowered = pattern.lower()
        if any(ch in pattern for ch in "*?["):
            return [vm for vm in self.vms.values() if fnmatch.fnmatchcase(vm.name.lower(), lowered)]
        return [vm for vm in self.vms.values() if vm.name.lower() == lowered]

    def switch(self, name: str) -> VMSwitch | None:
        return next((s for s in self.switches if s.name.lower() == name.lower()), None)

    def to_object(self) -> ModelObject:
        """Get-VMHost's VMHost."""
        props: dict[str, Any] = {
            "Name": self.short_name,
            "ComputerName": self.short_name,
            "FullyQualifiedDomainName": self.fqdn,
            "LogicalProcessorCount": self.logical_processors,
            "MemoryCapacity": self.memory_bytes,
            "VirtualMachinePath": self.vm_path,
            "VirtualHardDiskPath": self.vhd_path,
            "MacAddressMinimum": "00155D000000",
            "MacAddressMaximum": "00155DFFFFFF",
            "NumaSpanningEnabled": True,
            "VirtualMachineMigrationEnabled": False,
            "MaximumStorageMigrations": 2,
            "MaximumVirtualMachineMigrations": 2,
            "SupportedVmVersions": ["8.0", "9.0"],
            "IsDeleted": False,
        }
        return ModelObject(HV + "VMHost", props, ref=self)

    def replication_server_object(self) -> ModelObject:
        """Get-VMReplicationServer's VMReplicationServer."""
        rs = self.replica_server
        props: dict[str, Any] = {
            "ReplicationEnabled": rs.enabled,
            "AllowedAuthenticationType": rs.auth,
            "ReplicationAllowedFromAnyServer": rs.allowed_from_any_server,
            "CertificateThumbprint": rs.certificate_thumbprint,
            "KerberosAuthenticationPort": rs.kerberos_port,
            "CertificateAuthenticationPort": rs.certificate_port,
            "KerberosAuthenticationPortMapping": None,
            "CertificateAuthenticationPortMapping": None,
            "DefaultStorageLocation": rs.default_storage_location,
            "AuthorizationEntries": [
                ModelObject(
                    HV + "VMReplicationAuthorizationEntry",
                    {
                        "AllowedPrimaryServer": e.allowed_primary_server,
                        "ReplicaStorageLocation": e.replica_storage_location,
                        "TrustGroup": e.trust_group,
                        "ComputerName": self.short_name,
                    },
                )
                for e in rs.authorization_entries
            ],
            "MonitoringInterval": rs.monitoring_interval,
            "MonitoringStartTime": rs.monitoring_start_time,
            "OperationalStatus": [VMReplicationServerOperationalStatus.Ok],
            "StatusDescriptions": ["OK"],
            "ComputerName": self.short_name,
            "IsDeleted": False,
        }
        return ModelObject(HV + "VMReplicationServer", props, ref=self)

    def switch_object(self, switch: VMSwitch) -> ModelObject:
        return ModelObject(
            HV + "VMSwitch",
            {
                "Name": switch.name,
                "Id": switch.id,
                "SwitchType": switch.switch_type,
                "NetAdapterInterfaceDescription": "Lab virtual NIC" if switch.switch_type == "External" else None,
                "ComputerName": self.short_name,
                "IsDeleted": False,
            },
            ref=switch,
        )
