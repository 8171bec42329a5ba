"""Cmdlets for VMs, the host, switches, network adapters and integration services."""

from __future__ import annotations

from typing import Any

from hvdr.lab.cmdlets.base import VM_NAME_ONLY, VM_OBJECT, Context, cmdlet, resolve_vms
from hvdr.lab.cmdlets.binding import Param
from hvdr.lab.models import errors
from hvdr.lab.models.enums import VMState
from hvdr.lab.models.vms import VirtualMachine

PASSTHRU = Param("Passthru", "switch")


def _passthru(ctx: Context, bound: dict[str, Any], vms: list[VirtualMachine]) -> list[Any]:
    return [vm.to_object(ctx.now) for vm in vms] if bound.get("Passthru") else []


@cmdlet("Get-VM", Param("Name", "strings", ("VMName",), position=0), Param("Id", "guid"), VM_OBJECT)
def get_vm(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    if "Id" in bound:
        vm = ctx.host.vms.get(bound["Id"])
        if vm is None:
            raise errors.object_not_found(
                f'Hyper-V was unable to find a virtual machine with id "{bound["Id"]}".', str(bound["Id"])
            )
        vms = [vm]
    else:
        vms = resolve_vms(ctx, bound, name_key="Name", required=False)
    for vm in vms:
        ctx.backend.catch_up(vm, ctx.now)
    return [vm.to_object(ctx.now) for vm in sorted(vms, key=lambda v: v.name.lower())]


@cmdlet("Start-VM", Param("Name", "strings", ("VMName",), position=0, by_property_name=True), VM_OBJECT, PASSTHRU)
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
    Param("Name", "strings", ("VMName",), position=0, by_property_name=True),
    VM_OBJECT,
    Param("Force", "switch"),
    Param("TurnOff", "switch"),
    Param("Save", "switch"),
    PASSTHRU,
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
    Param("Name", "strings", ("VMName",), position=0, by_property_name=True),
    VM_OBJECT,
    Param("Force", "switch"),
    PASSTHRU,
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


@cmdlet("Get-VMHost", remoting=True)
def get_vmhost(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    return [ctx.host.to_object()]


@cmdlet("Get-VMSwitch", Param("Name", "strings", ("SwitchName",), position=0), Param("SwitchType", "string"))
def get_vmswitch(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    from hvdr.lab.cmdlets.patterns import matches

    switches = [
        s
        for s in ctx.host.switches
        if matches(s.name, bound.get("Name"))
        and ("SwitchType" not in bound or s.switch_type.lower() == str(bound["SwitchType"]).lower())
    ]
    names = bound.get("Name") or []
    if not switches and names and not any(ch in n for n in names for ch in "*?["):
        raise errors.object_not_found(f'Hyper-V was unable to find a virtual switch with name "{names[0]}".', names[0])
    return [ctx.host.switch_object(s) for s in switches]


@cmdlet("Get-VMNetworkAdapter", VM_NAME_ONLY, VM_OBJECT, Param("Name", "strings"), Param("All", "switch"))
def get_vmnetworkadapter(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    from hvdr.lab.cmdlets.patterns import matches

    vms = resolve_vms(ctx, bound, required=not bound.get("All"))
    return [vm.adapter_object(a) for vm in vms for a in vm.adapters if matches(a.name, bound.get("Name"))]


def _adapters(ctx: Context, bound: dict[str, Any], name_key: str) -> list[tuple[VirtualMachine, Any]]:
    from hvdr.lab.cmdlets.patterns import matches

    vms = resolve_vms(ctx, bound)
    pairs = [(vm, a) for vm in vms for a in vm.adapters if matches(a.name, bound.get(name_key))]
    if not pairs:
        wanted = (bound.get(name_key) or ["*"])[0]
        raise errors.object_not_found(
            f'Hyper-V was unable to find a network adapter with name "{wanted}" on virtual machine '
            f'"{vms[0].name if vms else ""}".',
            wanted,
        )
    return pairs


@cmdlet(
    "Connect-VMNetworkAdapter",
    VM_NAME_ONLY,
    Param("Name", "strings", position=1),
    Param("SwitchName", "string", position=2),
    Param("VMNetworkAdapter", "objects", pipeline_types=("VMNetworkAdapter",)),
    PASSTHRU,
)
def connect_vmnetworkadapter(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    switch_name = bound.get("SwitchName")
    if not switch_name:
        raise errors.parameter_not_provided("SwitchName", "to connect a network adapter")
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
    VM_NAME_ONLY,
    Param("VMNetworkAdapterName", "strings"),
    Param("VMNetworkAdapter", "objects", pipeline_types=("VMNetworkAdapter",)),
    Param("IPv4Address", "string"),
    Param("IPv4SubnetMask", "string"),
    Param("IPv4DefaultGateway", "string"),
    Param("IPv4PreferredDNSServer", "string"),
    Param("IPv4AlternateDNSServer", "string"),
    Param("ClearFailoverIPv4Settings", "switch"),
    PASSTHRU,
)
def set_failover_configuration(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    if bound.get("VMNetworkAdapter"):
        pairs = [obj.ref for obj in bound["VMNetworkAdapter"]]
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


@cmdlet("Get-VMIntegrationService", VM_NAME_ONLY, VM_OBJECT, Param("Name", "strings", position=1))
def get_integration_service(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    from hvdr.lab.cmdlets.patterns import matches

    vms = resolve_vms(ctx, bound)
    return [
        obj
        for vm in vms
        for obj in vm.integration_objects(ctx.now)
        if matches(str(obj.ps_get("Name")), bound.get("Name"))
    ]
