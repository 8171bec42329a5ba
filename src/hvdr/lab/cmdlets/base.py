"""How a cmdlet runs: registry, context, VM resolution, call counting, and the :class:`PSHost` the wire uses."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hvdr.lab.cmdlets.binding import Param, Signature, binder_error
from hvdr.lab.models import errors
from hvdr.lab.models.backend import LabBackend
from hvdr.lab.models.hosts import LabHost
from hvdr.lab.models.objects import ModelObject
from hvdr.lab.models.vmm import LabVMMServer
from hvdr.lab.models.vms import VirtualMachine
from hvdr.lab.seam import Cmdlet, Invocation, PSError, PSObject, WireFaults


@dataclass
class Context:
    backend: LabBackend
    target: LabHost | LabVMMServer
    cmdlet: str
    now: float

    @property
    def host(self) -> LabHost:
        assert isinstance(self.target, LabHost)
        return self.target

    @property
    def vmm(self) -> LabVMMServer:
        assert isinstance(self.target, LabVMMServer)
        return self.target


Handler = Callable[[Context, dict[str, Any]], list[Any]]


@dataclass
class CmdletSpec:
    name: str
    signature: Signature
    handler: Handler
    command_class: str
    """The FullyQualifiedErrorId's second part: the class implementing the cmdlet in its module."""


HYPERV: dict[str, CmdletSpec] = {}
HYPERV_COMMANDS = "Microsoft.HyperV.PowerShell.Commands"


def hyperv_class(name: str) -> str:
    """The Hyper-V module's class for a cmdlet: ``Start-VMFailover`` → ``…Commands.StartVMFailover`` (no
    ``Command`` suffix, unlike PowerShell's own cmdlets; see public transcripts quoted in tests/hyperv/transcripts)."""
    return f"{HYPERV_COMMANDS}.{name.replace('-', '')}"


def cmdlet(
    name: str,
    *params: Param,
    registry: dict[str, CmdletSpec] | None = None,
    remoting: bool = False,
    command_class: str | None = None,
    default_set: str | None = None,
) -> Callable[[Handler], Handler]:
    """Register a handler under a cmdlet name with its signature (parameter sets as Microsoft documents them)."""

    def register(handler: Handler) -> Handler:
        (HYPERV if registry is None else registry)[name.lower()] = CmdletSpec(
            name,
            Signature(list(params), remoting=remoting, default_set=default_set),
            handler,
            command_class or hyperv_class(name),
        )
        return handler

    return register


PASSTHRU = Param("Passthru", "switch")
AS_JOB = Param("AsJob", "switch")
SHOULD_PROCESS = (Param("Confirm", "switch", ("cf",)), Param("WhatIf", "switch", ("wi",)))
"""``-Confirm``/``-WhatIf``: only cmdlets that change something declare them (``Get-VM -Confirm`` is refused)."""


def remoting(*sets: str) -> tuple[Param, ...]:
    """``-CimSession``/``-ComputerName``/``-Credential`` in the given sets (all sets when none are given)."""
    return (
        Param("CimSession", "objects", sets=sets),
        Param("ComputerName", "strings", sets=sets),
        Param("Credential", "objects", sets=sets),
    )


def vm_sets(
    name: str = "VMName", aliases: tuple[str, ...] = (), name_set: str = "VMName", object_set: str = "VMObject"
) -> tuple[Param, ...]:
    """The usual pair: ``[-VMName] <String[]>`` in one set, ``[-VM] <VirtualMachine[]>`` in another, both
    mandatory at position 0 and taken from the pipeline by value."""
    return (
        Param(name, "strings", aliases, position=0, mandatory=True, pipeline_types=("String",), sets=(name_set,)),
        Param("VM", "objects", position=0, mandatory=True, pipeline_types=("VirtualMachine",), sets=(object_set,)),
    )


VM_NAME_ONLY, VM_OBJECT = vm_sets()
"""The common pair as single parameters (``-VMName`` in the VMName set, ``-VM`` in the VMObject set)."""
VM_NAME = dataclasses.replace(VM_NAME_ONLY, aliases=("Name",))
"""``-VMName`` on the pages that give it the alias ``-Name`` (Enable-VMReplication, Set-VMReplication …)."""
VM_REPLICATION = Param(
    "VMReplication", "objects", position=0, mandatory=True, pipeline_types=("VMReplication",), sets=("VMReplication",)
)


def resolve_vms(
    ctx: Context,
    bound: dict[str, Any],
    *,
    name_key: str = "VMName",
    required: bool = True,
    include_tests: bool = True,
    wildcard_applies: Callable[[VirtualMachine], bool] | None = None,
) -> list[VirtualMachine]:
    """The VMs named by ``-VMName``/``-Name`` (wildcards allowed) or given as objects (``-VM``, the pipeline).

    A name without wildcards that matches nothing raises Hyper-V's "unable to find a virtual machine" error.
    ``wildcard_applies``: the ``*`` forms act only on the VMs the operation applies to ("Stop-VMFailover *" stops
    "all running failovers"), while a VM named outright still fails as its state says.
    """
    host = ctx.host
    found: list[VirtualMachine] = []
    for obj in bound.get("VMReplication") or []:
        rel = obj.ref if isinstance(obj, ModelObject) else None
        vm = getattr(rel, "vm", None)
        current = host.vms.get(vm.id) if isinstance(vm, VirtualMachine) else None
        if current is None:
            raise errors.vm_not_found(str(obj.ps_get("VMName")) if isinstance(obj, PSObject) else str(obj))
        found.append(current)
    objects = bound.get("VM")
    for obj in objects if isinstance(objects, list) else [objects] if objects is not None else []:
        vm = obj.ref if isinstance(obj, ModelObject) and isinstance(obj.ref, VirtualMachine) else None
        if vm is None:
            raise binder_error(
                "CannotConvertArgument",
                f'Cannot bind parameter \'VM\'. Cannot convert the "{obj}" value of type "{type(obj).__name__}" to '
                'type "Microsoft.HyperV.PowerShell.VirtualMachine".',
            )
        current = host.vms.get(vm.id)
        if current is None:
            raise errors.vm_not_found(vm.name)
        found.append(current)
    names = bound.get(name_key)
    if isinstance(names, str):
        names = [names]
    if names is not None:
        for name in names:
            matches = host.vms_named(name)
            pattern = any(ch in name for ch in "*?[")
            if not matches and not pattern:
                raise errors.vm_not_found(name)
            if pattern and wildcard_applies is not None:
                matches = [vm for vm in matches if wildcard_applies(vm)]
            found.extend(matches)
    elif not bound.get("VM") and not bound.get("VMReplication") and not required:
        found.extend(host.vms.values())
    elif not bound.get("VM") and not bound.get("VMReplication"):
        raise binder_error(
            "MissingMandatoryParameter",
            f"Cannot process command because of one or more missing mandatory parameters: {name_key}.",
        )
    if not include_tests:
        found = [vm for vm in found if vm.test_of is None]
    unique: dict[int, VirtualMachine] = {}
    for vm in found:
        unique.setdefault(id(vm), vm)
    return list(unique.values())


def vm_names(bound: dict[str, Any]) -> list[str]:
    """The VM names a call is about, for ``GET /calls``."""
    names: list[str] = []
    for key in ("VMName", "Name"):
        value = bound.get(key)
        if isinstance(value, list):
            names.extend(str(v) for v in value)
        elif isinstance(value, str):
            names.append(value)
    for key in ("VM", "VMRecoverySnapshot"):
        value = bound.get(key)
        for obj in value if isinstance(value, list) else [value]:
            if isinstance(obj, PSObject):
                name = obj.ps_get("VMName") or obj.ps_get("Name")
                if name:
                    names.append(str(name))
    return list(dict.fromkeys(names))


class LabPSHost:
    """One simulated host (Hyper-V or VMM) as the wire sees it (``hvdr.lab.seam.PSHost``)."""

    def __init__(
        self,
        backend: LabBackend,
        fqdn: str,
        registry: dict[str, CmdletSpec] | None = None,
        *,
        kind: str = "hyperv",
        count_vm_params: Iterable[str] = ("VMName", "Name", "VM", "VMRecoverySnapshot", "VMReplication"),
    ) -> None:
        self.backend = backend
        self._name = fqdn
        self.kind = kind
        self._registry = HYPERV if registry is None else registry
        self._count_keys = tuple(count_vm_params)

    @property
    def name(self) -> str:
        return self._name

    def wire_faults(self) -> WireFaults:
        with self.backend.lock:
            return self.backend.wire_faults(self._name)

    def cmdlets(self) -> list[str]:
        return sorted(spec.name for spec in self._registry.values())

    def cmdlet(self, name: str) -> Cmdlet | None:
        spec = self._registry.get(name.lower())
        if spec is None:
            return None

        def run(invocation: Invocation) -> list[Any]:
            try:
                return self._run(spec, invocation)
            except PSError as error:
                if error.command_class is None:
                    error.command_class = spec.command_class
                raise

        return run

    def _run(self, spec: CmdletSpec, invocation: Invocation) -> list[Any]:
        backend = self.backend
        with backend.lock:
            backend.sync()
            counted: list[str] = []
            try:
                inputs = list(invocation.pipeline_input)
                if invocation.piped and not inputs:
                    spec.signature.bind(invocation, no_input=True)
                    return []
                batches = (
                    [spec.signature.bind(invocation, obj, piped=True) for obj in inputs]
                    if inputs
                    else [spec.signature.bind(invocation)]
                )
                for bound in batches:
                    counted.extend(vm_names({k: v for k, v in bound.items() if k in self._count_keys}))
                results: list[Any] = []
                for bound in batches:
                    if bound.get("WhatIf"):
                        continue
                    for target in self._targets(bound):
                        ctx = Context(backend, target, spec.name, backend.now())
                        results.extend(spec.handler(ctx, bound))
                return results
            finally:
                backend.record_call(self._name, spec.name, list(dict.fromkeys(counted)))

    def _targets(self, bound: dict[str, Any]) -> list[LabHost | LabVMMServer]:
        """The host the cmdlet runs against: this one, or each ``-ComputerName`` (the lab knows all its hosts;
        an unknown name fails as a real host's CIM call to an unreachable computer does)."""
        backend = self.backend
        if self.kind == "vmm":
            server = backend.vmm(self._name)
            if server is None:
                raise errors.object_not_found(f"The lab has no VMM server named {self._name}.", self._name)
            return [server]
        host = backend.host(self._name)
        if host is None:
            raise errors.object_not_found(f"The lab has no Hyper-V host named {self._name}.", self._name)
        names = bound.get("ComputerName")
        if names is None:
            return [host]
        targets: list[LabHost | LabVMMServer] = []
        for name in names if isinstance(names, list) else [names]:
            text = str(name).strip()
            if text.lower() in (".", "localhost", "127.0.0.1", "::1"):
                targets.append(host)
                continue
            other = backend.host(text)
            if other is None:
                raise _computer_unreachable(text)
            targets.append(other)
        return targets


def _computer_unreachable(name: str) -> PSError:
    """What a Hyper-V cmdlet writes when ``-ComputerName`` names a computer it cannot reach (the module talks
    CIM over WS-Management; the name does not resolve, so Kerberos cannot find the computer)."""
    return errors.operation_unspecified(
        f"The operation on computer '{name}' failed: WinRM cannot process the request. The following error occurred "
        f"while using Kerberos authentication: Cannot find the computer {name}. Verify that the computer exists on "
        "the network and that the name provided is spelled correctly.",
    )
