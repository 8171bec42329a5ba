"""System Center VMM servers: one per site, with clouds of that site's hosts, as inventory discovery reads them.

Host groups follow ``All Hosts\\<site>\\<cloud>``; a host outside any cloud sits in ``All Hosts\\<site>``.
VMM sees every VM on its hosts (replicas too), with ``Status`` "Running" / "PowerOff" / "Saved".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from hvdr.lab.models.enums import VMState
from hvdr.lab.models.hosts import LabHost
from hvdr.lab.models.objects import ModelObject

VMM = "Microsoft.SystemCenter.VirtualMachineManager."
_STATUS = {VMState.Running: "Running", VMState.Off: "PowerOff", VMState.Saved: "Saved", VMState.Paused: "Paused"}


@dataclass
class VMMCloud:
    name: str
    site: str
    host_group: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class LabVMMServer:
    fqdn: str
    site: str
    port: int = 8100
    clouds: list[VMMCloud] = field(default_factory=list)
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def short_name(self) -> str:
        return self.fqdn.split(".", 1)[0].upper()

    def host_group_of(self, host: LabHost) -> str:
        cloud = self.cloud_of(host)
        return cloud.host_group if cloud else f"All Hosts\\{host.site}"

    def cloud_of(self, host: LabHost) -> VMMCloud | None:
        return next((c for c in self.clouds if c.name == host.cloud), None)

    def server_object(self) -> ModelObject:
        return ModelObject(
            VMM + "Remoting.ServerConnection",
            {
                "Name": self.fqdn,
                "FQDN": self.fqdn,
                "FullyQualifiedDomainName": self.fqdn,
                "ComputerName": self.short_name,
                "Port": self.port,
                "ProductVersion": "10.22.1287.0",
                "ID": self.id,
                "IsConnected": True,
            },
            ref=self,
        )

    def cloud_object(self, cloud: VMMCloud) -> ModelObject:
        return ModelObject(
            VMM + "Cloud",
            {
                "Name": cloud.name,
                "ID": cloud.id,
                "Description": "",
                "HostGroup": [_group(cloud.host_group)],
                "ServerConnection": self.fqdn,
            },
            ref=cloud,
        )

    def host_object(self, host: LabHost) -> ModelObject:
        group = self.host_group_of(host)
        return ModelObject(
            VMM + "Host",
            {
                "Name": host.fqdn,
                "ComputerName": host.short_name.lower(),
                "FQDN": host.fqdn,
                "FullyQualifiedDomainName": host.fqdn,
                "VMHostGroup": _group(group),
                "OverallState": "OK",
                "CommunicationState": "Responding",
                "VirtualizationPlatform": "HyperV",
                "LogicalProcessorCount": host.logical_processors,
                "TotalMemory": host.memory_bytes,
            },
            ref=host,
        )

    def vm_object(self, host: LabHost, vm: Any) -> ModelObject:
        cloud = self.cloud_of(host)
        return ModelObject(
            VMM + "VM",
            {
                "Name": vm.name,
                "ID": uuid.uuid5(self.id, str(vm.id)),
                "VMId": vm.id,
                "VMHost": ModelObject(VMM + "Host", {"Name": host.fqdn, "ComputerName": host.short_name.lower()}),
                "HostName": host.fqdn,
                "Status": _STATUS.get(vm.state, vm.state.name),
                "StatusString": _STATUS.get(vm.state, vm.state.name),
                "Cloud": ModelObject(VMM + "Cloud", {"Name": cloud.name, "ID": cloud.id}) if cloud else None,
                "ReplicationStatus": vm.replication_state.name,
                "ReplicationMode": vm.mode.name,
                "CPUCount": vm.processor_count,
                "Memory": vm.memory_bytes // 1024**2,
                "Tag": vm.tier or "",
            },
            ref=vm,
        )


def _group(path: str) -> ModelObject:
    return ModelObject(VMM + "HostGroup", {"Name": path.rsplit("\\", 1)[-1], "Path": path})
