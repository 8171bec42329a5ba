"""Cmdlets for VMs, the host, switches, network adapters and integration services."""

from __future__ import annotations

import dataclasses
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
from hvdr.lab.models import errors, guest
from hvdr.lab.models.enums import VMState
from hvdr.lab.models.objects import HV, ModelObject
from hvdr.lab.models.vms import FailoverIP, NetworkAdapter, VirtualMachine
from hvdr.lab.seam import PSObject


def _passthru(ctx: Context, bound: dict[str, Any], vms: list[VirtualMachine]) -> list[Any]:
    # A cmdlet that waited (Stop-VM) reports the VM as it is when it returns.
    now = ctx.backend.now()
    return [vm.to_object(now) for vm in vms] if bound.get("Passthru") else []


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
    return _passthru(ctx, bound, vms)


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
        guest.stop(
            ctx.backend,
            vm,
            force=bool(bound.get("Force")),
            turn_off=bool(bound.get("TurnOff")),
            save=bool(bound.get("Save")),
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
    return [vm.adapter_object(a, ctx.now) for vm in vms for a in vm.adapters if matches(a.name, names)]


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
    return [vm.adapter_object(a, ctx.now) for vm, a in pairs] if bound.get("Passthru") else []


def _adapter_pairs(ctx: Context, bound: dict[str, Any], name_key: str) -> list[tuple[VirtualMachine, NetworkAdapter]]:
    given = bound.get("VMNetworkAdapter")
    if given:  # one adapter (-VMNetworkAdapter <VMNetworkAdapter>) or several (<VMNetworkAdapter[]>)
        return [obj.ref for obj in (given if isinstance(given, list) else [given])]
    return _adapters(ctx, bound, name_key)


@cmdlet(
    "Set-VMNetworkAdapter",
    *remoting("VMName"),
    Param("Name", "string", ("VMNetworkAdapterName",), sets=("VMName", "VMObject")),
    PASSTHRU,
    Param("TestReplicaSwitchName", "string"),
    Param("VM", "object", position=0, mandatory=True, pipeline_types=("VirtualMachine",), sets=("VMObject",)),
    Param("VMName", "string", position=0, mandatory=True, pipeline_types=("String",), sets=("VMName",)),
    Param(
        "VMNetworkAdapter",
        "object",
        position=0,
        mandatory=True,
        pipeline_types=("VMNetworkAdapter", "VMNetworkAdapterBase"),
        sets=("ResourceObject",),
    ),
    *SHOULD_PROCESS,
    default_set="VMName",
)
def set_vmnetworkadapter(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    """The adapter settings the lab models: ``-TestReplicaSwitchName`` (where a test failover connects)."""
    pairs = _adapter_pairs(ctx, bound, "Name")
    if "TestReplicaSwitchName" in bound:
        name = bound["TestReplicaSwitchName"] or None
        switch = ctx.host.switch(name) if name else None
        if name and switch is None:
            raise errors.object_not_found(f'Hyper-V was unable to find a virtual switch with name "{name}".', name)
        for _vm, adapter in pairs:
            adapter.test_switch_name = switch.name if switch else None
    return [vm.adapter_object(a, ctx.now) for vm, a in pairs] if bound.get("Passthru") else []


_FAILOVER_PARAMS = {
    4: ("IPv4Address", "IPv4SubnetMask", "IPv4DefaultGateway", "IPv4PreferredDNSServer", "IPv4AlternateDNSServer"),
    6: (
        "IPv6Address",
        "IPv6SubnetPrefixLength",
        "IPv6DefaultGateway",
        "IPv6PreferredDNSServer",
        "IPv6AlternateDNSServer",
    ),
}


def _failover_ip(bound: dict[str, Any], family: int, current: FailoverIP | None) -> FailoverIP | None:
    """The family's configuration after this call: given values over the current ones."""
    names = _FAILOVER_PARAMS[family]
    if bound.get(f"ClearFailoverIPv{family}Settings"):
        return None
    if not any(n in bound for n in names):
        return current
    old = dataclasses.astuple(current) if current else (None,) * 5
    values = [str(bound[n]) if bound.get(n) not in (None, "") else old[i] for i, n in enumerate(names)]
    address, subnet = values[0], values[1]
    if not address or not subnet:
        missing, given = (names[1], names[0]) if address else (names[0], names[1])
        raise errors.parameter_not_provided(missing, f"with {given}")
    return FailoverIP(address, subnet, values[2], values[3], values[4])


def failover_setting_object(vm: VirtualMachine, adapter: NetworkAdapter) -> ModelObject:
    """Get-VMNetworkAdapterFailoverConfiguration's VMNetworkAdapterFailoverSetting."""
    v4, v6 = adapter.failover_ipv4, adapter.failover_ipv6
    return ModelObject(
        HV + "VMNetworkAdapterFailoverSetting",
        {
            "VMName": vm.name,
            "VMNetworkAdapterName": adapter.name,
            "IPv4Address": v4.address if v4 else None,
            "IPv6Address": v6.address if v6 else None,
            "IPv4SubnetMask": v4.subnet if v4 else None,
            "IPv6SubnetPrefixLength": int(v6.subnet) if v6 else None,
            "IPv4PreferredDNSServer": v4.preferred_dns_server if v4 else None,
            "IPv4AlternateDNSServer": v4.alternate_dns_server if v4 else None,
            "IPv6PreferredDNSServer": v6.preferred_dns_server if v6 else None,
            "IPv6AlternateDNSServer": v6.alternate_dns_server if v6 else None,
            "IPv4DefaultGateway": v4.default_gateway if v4 else None,
            "IPv6DefaultGateway": v6.default_gateway if v6 else None,
            "ComputerName": vm.host.short_name,
        },
        ref=(vm, adapter),
    )


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
    pairs = _adapter_pairs(ctx, bound, "VMNetworkAdapterName")
    prefix = bound.get("IPv6SubnetPrefixLength")
    if prefix is not None and not 0 <= int(prefix) <= 128:
        raise errors.out_of_range("IPv6SubnetPrefixLength", prefix, "The argument is not in the range 0 to 128")
    changes = [(a, _failover_ip(bound, 4, a.failover_ipv4), _failover_ip(bound, 6, a.failover_ipv6)) for _, a in pairs]
    for adapter, v4, v6 in changes:  # validated for every adapter before any changes
        adapter.failover_ipv4, adapter.failover_ipv6 = v4, v6
    return [failover_setting_object(vm, a) for vm, a in pairs] if bound.get("Passthru") else []


@cmdlet(
    "Get-VMNetworkAdapterFailoverConfiguration",
    *remoting("VMName"),
    *vm_sets(),
    Param(
        "VMNetworkAdapter",
        "objects",
        position=0,
        mandatory=True,
        pipeline_types=("VMNetworkAdapter",),
        sets=("ResourceObject",),
    ),
    Param("VMNetworkAdapterName", "string", sets=("VMName", "VMObject")),
    default_set="VMName",
)
def get_failover_configuration(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    return [failover_setting_object(vm, a) for vm, a in _adapter_pairs(ctx, bound, "VMNetworkAdapterName")]


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
