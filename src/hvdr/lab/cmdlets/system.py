"""Cmdlets of PowerShell itself that the driver uses, answered from the lab's clock."""

from __future__ import annotations

from typing import Any

from hvdr.lab.cmdlets.base import Context, cmdlet
from hvdr.lab.cmdlets.binding import Param
from hvdr.lab.models.clock import to_datetime
from hvdr.lab.models.enums import VMReplicationMode
from hvdr.lab.seam import PSCustomObject, PSError


@cmdlet("Get-Date", command_class="Microsoft.PowerShell.Commands.GetDateCommand")
def get_date(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    """The host's clock: the lab's simulated time (so RPO = host time - last replication is consistent)."""
    return [to_datetime(ctx.now)]


@cmdlet(
    "Get-PSDrive",
    Param("Name", "strings", position=0),
    Param("PSProvider", "string"),
    command_class="Microsoft.PowerShell.Commands.GetPSDriveCommand",
)
def get_psdrive(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    """File-system drives: the replica storage volume's size is the host's ``replica_storage_bytes``; what the
    replicas it holds occupy is Used (a full-storage fault leaves nothing Free)."""
    host = ctx.host
    storage = host.replica_server.default_storage_location or "D:\\Hyper-V Replica"
    replica_drive = storage[:1].upper()
    used = sum(
        disk.size_bytes
        for vm in host.vms.values()
        if vm.mode in (VMReplicationMode.Replica, VMReplicationMode.TestReplica)
        for disk in vm.disks
        if not disk.excluded
    )
    drives = {"C": (0, host.replica_storage_bytes), replica_drive: (used, host.replica_storage_bytes - used)}
    if ctx.backend.faults.storage_full(host.fqdn):
        drives[replica_drive] = (host.replica_storage_bytes, 0)
    names = [str(n).rstrip(":").upper() for n in bound.get("Name") or drives]
    found = []
    for name in names:
        if name not in drives:
            raise PSError(
                f"Cannot find drive. A drive with the name '{name}' does not exist.",
                error_id="GetLocationNoMatchingDrive",
                category="ObjectNotFound",
                target=name,
                exception="DriveNotFoundException",
            )
        used_bytes, free = drives[name]
        found.append(
            PSCustomObject(
                {
                    "Name": name,
                    "Root": f"{name}:\\",
                    "Used": used_bytes,
                    "Free": max(free, 0),
                    "Provider": "FileSystem",
                },
                type_name="System.Management.Automation.PSDriveInfo",
            )
        )
    return found
