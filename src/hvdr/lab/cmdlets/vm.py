"""Cmdlets for VMs, the host, switches, network adapters and integration services."""

from __future__ import annotations

from typing import Any

from hvdr.lab.cmdlets.base import (
    AS_JOB,
    PASSTHRU,
    SHOULD_PROCESS,
    Context,
    cmdlet,
    remoting,
    resolve_vms,
    vm_sets,
)
from hvdr.lab.cmdlets.binding import Param
from hvdr.lab.models import errors
from hvdr.lab.models.enums import VMState
from hvdr.lab.models.vms import VirtualMachine
from hvdr.lab.seam import PSObject


def _passthru(ctx: Context, bound: dict[str, Any], vms: list[VirtualMachine]) -> list[Any]:
    return [vm.to_object(ctx.now) for vm in vms] if bound.get("Passthru") else []


@cmdlet(
    "Get-VM",
    *remoting("Name", "Id"),
    Param("Id", "guid", position=0, pipeline_types=("Guid",), by_property_name=True, sets=("Id",)),
    Param("Name", "strings", ("VMName",), position=0, pipeline_types=("String",), sets=("Name",)),
    default_set="Name",
)
def get_vm(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    if "Id" in bound:
        vm = ctx.host.vms.get(bound["Id"])
        if vm is None:
            raise errors.vm_id_not_found(str(bound["Id"]))
        vms = [vm]
    else:
        vms = resolve_vms(ctx, bound, name_key="Name", required=False)
    for vm in vms:
        ctx.backend.catch_up(vm, ctx.now)
    return [vm.to_object(ctx.now) for vm in sorted(vms, key=lambda v: v.name.lower())]


@cmdlet(
    "Start-VM",
    AS_JOB,
    *remoting("Name"),
    PASSTHRU,
    *vm_sets("Name", ("VMName",), name_set="Name"),
    *SHOULD_PROCESS,
    default_set="Name",
)
def start_vm(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    vms = resolve_vms(ctx, bound, name_key="Name")
    for vm in vms:
        ctx.backend.catch_up(vm, ctx.now)
        vm.start(ctx.now)
        _apply_failover_ip(vm)
    return _passthru(ctx, bound, vms)


def _apply_failover_ip(vm: VirtualMachine) -> None:
    """A failed-over replica's guest takes the failover address configured for each adapter."""
    if vm.replication is None or vm.replication.mode.name != "Replica":
        return
    for adapter in vm.adapters:
        if adapter.failover_ipv4 and adapter.failover_ipv4.get("address"):
            adapter.ip_addresses = [str(adapter.failover_ipv4["address"])]


@cmdlet(
    "Stop-VM",
    Param("Force", "switch"),
    Param("Save", "switch"),
    Param("TurnOff", "switch"),
    AS_JOB,
    *remoting("Name"),
    PASSTHRU,
    *vm_sets("Name", ("VMName",), name_set="Name"),
    *SHOULD_PROCESS,
    default_set="Name",
)
def stop_vm(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    if bound.get("TurnOff") and bound.get("Save"):
        raise errors.conflicting("TurnOff", "Save")
    vms = resolve_vms(ctx, bound, name_key="Name")
    for vm in vms:
        ctx.backend.catch_up(vm, ctx.now)
        vm.stop(
            ctx.now, force=bool(bound.get("Force")), turn_off=bool(bound.get("TurnOff")), save=bool(bound.get("Save"))
        )
    return _passthru(ctx, bound, vms)


@cmdlet(
    "Remove-VM",
    Param("Force", "switch"),
    AS_JOB,
    *remoting("Name"),
    PASSTHRU,
    *vm_sets("Name", ("VMName",), name_set="Name"),
    *SHOULD_PROCESS,
    default_set="Name",
)
def remove_vm(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    vms = resolve_vms(ctx, bound, name_key="Name")
    for vm in vms:
        if vm.state not in (VMState.Off, VMState.Saved):
            raise errors.invalid_state(vm.name, vm.state.name, "Turn off the virtual machine before removing it.")
    for vm in vms:
        rel = vm.replication
        if rel is not None and rel.test_vm is not None:
            ctx.host.remove_vm(rel.test_vm)
            rel.test_vm = None
        if vm.test_of is not None and vm.test_of.replication is not None:
            vm.test_of.replication.test_vm = None
        if rel is not None:
            rel.task = None
            rel.next_cycle_at = None
            vm.replication = None
        ctx.host.remove_vm(vm)
    return []


@cmdlet(
    "Get-VMHost",
    Param("CimSession", "objects", position=0, mandatory=True, by_property_name=True, sets=("CimSession",)),
    Param("ComputerName", "strings", position=0, pipeline_types=("String",), sets=("ComputerName",)),
    Param("Credential", "objects", position=1, pipeline_types=("PSCredential",), sets=("ComputerName",)),
    default_set="ComputerName",
)
def get_vmhost(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    return [ctx.host.to_object()]


@cmdlet(
    "Get-VMSwitch",
    *remoting(),
    Param("Name", "string", ("SwitchName",), position=0, sets=("Name",)),
    Param("SwitchType", "strings"),
    default_set="Name",
)
def get_vmswitch(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    from hvdr.lab.cmdlets.patterns import matches

    names = [bound["Name"]] if "Name" in bound else []
    types = [str(t).lower() for t in bound.get("SwitchType") or []]
    switches = [
        s for s in ctx.host.switches if matches(s.name, names) and (not types or s.switch_type.lower() in types)
    ]
    if not switches and names and not any(ch in n for n in names for ch in "*?["):
        raise errors.object_not_found(f'Hyper-V was unable to find a virtual switch with name "{names[0]}".', names[0])
    return [ctx.host.switch_object(s) for s in switches]


@cmdlet(
    "Get-VMNetworkAdapter",
    Param("All", "switch", mandatory=True, sets=("All",)),
    *remoting("VMName", "All"),
    Param("Name", "string", ("VMNetworkAdapterName",), position=1),
    *vm_sets(),
    default_set="VMName",
)
def get_vmnetworkadapter(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    from hvdr.lab.cmdlets.patterns import matches

    vms = resolve_vms(ctx, bound, required=not bound.get("All"))
    names = [bound["Name"]] if "Name" in bound else None
    return [vm.adapter_object(a) for vm in vms for a in vm.adapters if matches(a.name, names)]


def _adapters(ctx: Context, bound: dict[str, Any], name_key: str) -> list[tuple[VirtualMachine, Any]]:
    from hvdr.lab.cmdlets.patterns import matches

    vms = resolve_vms(ctx, bound)
    wanted_names = bound.get(name_key)
    if isinstance(wanted_names, str):
        wanted_names = [wanted_names]
    pairs = [(vm, a) for vm in vms for a in vm.adapters if matches(a.name, wanted_names)]
    if not pairs:
        wanted = (wanted_names or ["*"])[0]
        raise errors.object_not_found(
            f'Hyper-V was unable to find a network adapter with name "{wanted}" on virtual machine '
            f'"{vms[0].name if vms else ""}".',
            wanted,
        )
    return pairs


@cmdlet(
    "Connect-VMNetworkAdapter",
    *remoting("Name_SwitchName"),
    Param(
        "Name",
        "strings",
        ("VMNetworkAdapterName",),
        position=1,
        sets=("Name_SwitchName", "Name_SwitchObject"),
    ),
    PASSTHRU,
    Param("SwitchName", "string", position=1, mandatory=True, sets=("Name_SwitchName", "Object_SwitchName")),
    Param("VMName", "strings", position=0, mandatory=True, sets=("Name_SwitchName", "Name_SwitchObject")),
    Param(
        "VMNetworkAdapter",
        "objects",
        position=0,
        mandatory=True,
        pipeline_types=("VMNetworkAdapter",),
        sets=("Object_SwitchName", "Object_SwitchObject"),
    ),
    Param(
        "VMSwitch",
        "object",
        position=2,
        mandatory=True,
        pipeline_types=("VMSwitch",),
        sets=("Object_SwitchObject", "Name_SwitchObject"),
    ),
    *SHOULD_PROCESS,
    default_set="Name_SwitchName",
)
def connect_vmnetworkadapter(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    chosen = bound.get("VMSwitch")
    switch_name = str(chosen.ps_get("Name")) if isinstance(chosen, PSObject) else str(bound["SwitchName"])
    switch = ctx.host.switch(switch_name)
    if switch is None:
        raise errors.object_not_found(
            f'Hyper-V was unable to find a virtual switch with name "{switch_name}".', switch_name
        )
    if bound.get("VMNetworkAdapter"):
        pairs = [obj.ref for obj in bound["VMNetworkAdapter"]]
    else:
        pairs = _adapters(ctx, bound, "Name")
    for _vm, adapter in pairs:
        adapter.switch_name = switch.name
    return [vm.adapter_object(a) for vm, a in pairs] if bound.get("Passthru") else []


@cmdlet(
    "Set-VMNetworkAdapterFailoverConfiguration",
    *remoting("VMName"),
    *(Param(f"ClearFailoverIPv{v}Settings", "switch") for v in (4, 6)),
    *(
        Param(f"IPv{v}{what}", "string")
        for v in (4, 6)
        for what in ("Address", "AlternateDNSServer", "DefaultGateway", "PreferredDNSServer")
    ),
    Param("IPv4SubnetMask", "string"),
    Param("IPv6SubnetPrefixLength", "int"),
    PASSTHRU,
    Param("VM", "object", position=0, mandatory=True, pipeline_types=("VirtualMachine",), sets=("VMObject",)),
    Param("VMName", "string", position=0, mandatory=True, pipeline_types=("String",), sets=("VMName",)),
    Param(
        "VMNetworkAdapter",
        "object",
        position=0,
        mandatory=True,
        pipeline_types=("VMNetworkAdapter",),
        by_property_name=True,
        sets=("ResourceObject",),
    ),
    Param("VMNetworkAdapterName", "string", sets=("VMName", "VMObject")),
    *SHOULD_PROCESS,
    default_set="VMName",
)
def set_failover_configuration(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    ipv6 = [name for name in bound if name.startswith(("IPv6", "ClearFailoverIPv6"))]
    if ipv6:
        raise errors.lab_unsupported(f"-{ipv6[0]}: IPv6 failover addresses are not simulated by the hvdr lab yet.")
    if bound.get("VMNetworkAdapter"):
        pairs = [bound["VMNetworkAdapter"].ref]
    else:
        pairs = _adapters(ctx, bound, "VMNetworkAdapterName")
    if bound.get("IPv4Address") and not bound.get("IPv4SubnetMask"):
        raise errors.parameter_not_provided("IPv4SubnetMask", "with IPv4Address")
    for _vm, adapter in pairs:
        if bound.get("ClearFailoverIPv4Settings"):
            adapter.failover_ipv4 = None
            continue
        adapter.failover_ipv4 = {
            "address": bound.get("IPv4Address"),
            "subnet_mask": bound.get("IPv4SubnetMask"),
            "default_gateway": bound.get("IPv4DefaultGateway"),
            "preferred_dns_server": bound.get("IPv4PreferredDNSServer"),
        }
    return [vm.adapter_object(a) for vm, a in pairs] if bound.get("Passthru") else []


@cmdlet(
    "Get-VMIntegrationService",
    *remoting("VMName"),
    Param("Name", "strings", position=1),
    *vm_sets(),
    default_set="VMName",
)
def get_integration_service(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    from hvdr.lab.cmdlets.patterns import matches

    vms = resolve_vms(ctx, bound)
    return [
        obj
        for vm in vms
        for obj in vm.integration_objects(ctx.now)
        if matches(str(obj.ps_get("Name")), bound.get("Name"))
    ]
