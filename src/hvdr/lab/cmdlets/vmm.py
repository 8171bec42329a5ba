"""The VMM cmdlets inventory discovery reads, served by each site's VMM server."""

from __future__ import annotations

from typing import Any

from hvdr.lab.cmdlets.base import CmdletSpec, Context, cmdlet
from hvdr.lab.cmdlets.binding import Param
from hvdr.lab.cmdlets.patterns import matches
from hvdr.lab.models.hosts import LabHost
from hvdr.lab.seam import PSError, PSObject

VMM: dict[str, CmdletSpec] = {}
VMM_CMDLETS = "Microsoft.SystemCenter.VirtualMachineManager.Cmdlets"
"""VMM's cmdlet classes end in ``Cmdlet`` (``…Cmdlets.NewNICCmdlet`` in public transcripts); not every class
name follows the cmdlet's name, these do."""


def _name(value: object, prop: str) -> str | None:
    """A filter given as an object (``-VMHost $host``) or as its name."""
    if isinstance(value, PSObject):
        found = value.ps_get(prop)
        return None if found is None else str(found)
    return None if value is None else str(value)


def _hosts(ctx: Context) -> list[LabHost]:
    return sorted((h for h in ctx.backend.hosts.values() if h.site == ctx.vmm.site), key=lambda h: h.fqdn)


@cmdlet(
    "Get-SCVMMServer",
    Param("ComputerName", "string", position=0),
    Param("TCPPort", "int"),
    Param("Credential", "object"),
    Param("ForOnBehalfOf", "switch"),
    Param("SetAsDefault", "switch"),
    registry=VMM,
    command_class=f"{VMM_CMDLETS}.GetSCVMMServerCmdlet",
    remoting=False,
)
def get_scvmmserver(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    name = bound.get("ComputerName")
    vmm = ctx.vmm
    if name and name.lower() not in ("localhost", ".", vmm.fqdn.lower(), vmm.short_name.lower()):
        # VMM's own form: the numeric error id, CarmineException, category ReadError (public VMM transcripts
        # show e.g. "640,Microsoft.SystemCenter.VirtualMachineManager.Cmdlets.NewNICCmdlet").
        raise PSError(
            f"You cannot contact the VMM management server {name}. (Error ID: 1604)",
            error_id="1604",
            category="ReadError",
            target=name,
            exception="CarmineException",
        )
    return [vmm.server_object()]


@cmdlet(
    "Get-SCCloud",
    Param("Name", "strings", position=0),
    Param("VMMServer", "object"),
    Param("ID", "guid"),
    registry=VMM,
    command_class=f"{VMM_CMDLETS}.GetSCCloudCmdlet",
    remoting=False,
)
def get_sccloud(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    vmm = ctx.vmm
    return [
        vmm.cloud_object(c)
        for c in vmm.clouds
        if matches(c.name, bound.get("Name")) and ("ID" not in bound or c.id == bound["ID"])
    ]


@cmdlet(
    "Get-SCVMHost",
    Param("ComputerName", "strings", position=0),
    Param("VMMServer", "object"),
    Param("VMHostGroup", "object"),
    registry=VMM,
    command_class=f"{VMM_CMDLETS}.GetSCVMHostCmdlet",
    remoting=False,
)
def get_scvmhost(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    vmm = ctx.vmm
    names = bound.get("ComputerName")
    group = bound.get("VMHostGroup")
    group_path = _name(group, "Path")
    hosts = [
        h
        for h in _hosts(ctx)
        if (not names or any(h.answers_to(n) or matches(h.fqdn, [n]) for n in names))
        and (group_path is None or vmm.host_group_of(h).lower().startswith(str(group_path).lower()))
    ]
    return [vmm.host_object(h) for h in hosts]


@cmdlet(
    "Get-SCVirtualMachine",
    Param("Name", "strings", position=0),
    Param("VMMServer", "object"),
    Param("VMHost", "object"),
    Param("Cloud", "object"),
    Param("ID", "guid"),
    Param("All", "switch"),
    registry=VMM,
    command_class=f"{VMM_CMDLETS}.GetSCVirtualMachineCmdlet",
    remoting=False,
)
def get_scvirtualmachine(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    vmm = ctx.vmm
    host_filter = bound.get("VMHost")
    host_name = _name(host_filter, "Name")
    cloud_filter = bound.get("Cloud")
    cloud_name = _name(cloud_filter, "Name")
    rows = []
    for host in _hosts(ctx):
        if host_name and not host.answers_to(str(host_name)):
            continue
        if cloud_name and host.cloud != cloud_name:
            continue
        for vm in sorted(host.vms.values(), key=lambda v: v.name.lower()):
            if matches(vm.name, bound.get("Name")):
                rows.append(vmm.vm_object(host, vm))
    if "ID" in bound:
        rows = [r for r in rows if r.ps_get("ID") == bound["ID"]]
    return rows
