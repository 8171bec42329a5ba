"""How a cmdlet runs: registry, context, VM resolution, call counting, and the :class:`PSHost` the wire uses."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hvdr.lab.cmdlets.binding import Param, Signature
from hvdr.lab.models import errors
from hvdr.lab.models.backend import LabBackend
from hvdr.lab.models.hosts import HyperVHost
from hvdr.lab.models.objects import ModelObject
from hvdr.lab.models.vmm import VMMServer
from hvdr.lab.models.vms import VirtualMachine
from hvdr.lab.seam import Cmdlet, Invocation, PSError, PSObject, WireFaults


@dataclass
class Context:
    backend: LabBackend
    target: HyperVHost | VMMServer
    cmdlet: str
    now: float

    @property
    def host(self) -> HyperVHost:
        assert isinstance(self.target, HyperVHost)
        return self.target

    @property
    def vmm(self) -> VMMServer:
        assert isinstance(self.target, VMMServer)
        return self.target


Handler = Callable[[Context, dict[str, Any]], list[Any]]


@dataclass
class CmdletSpec:
    name: str
    signature: Signature
    handler: Handler


HYPERV: dict[str, CmdletSpec] = {}


def cmdlet(
    name: str, *params: Param, registry: dict[str, CmdletSpec] | None = None, remoting: bool = True
) -> Callable[[Handler], Handler]:
    """Register a handler under a cmdlet name with its signature."""

    def register(handler: Handler) -> Handler:
        (HYPERV if registry is None else registry)[name.lower()] = CmdletSpec(
            name, Signature(list(params), remoting=remoting), handler
        )
        return handler

    return register


VM_NAME = Param("VMName", "strings", ("Name",), position=0, by_property_name=True)
"""``-VMName`` where the cmdlet has no other ``-Name``: ``-Name`` is accepted for it too."""
VM_NAME_ONLY = Param("VMName", "strings", position=0, by_property_name=True)
"""``-VMName`` where ``-Name`` means something else (an adapter, a snapshot, a service)."""
VM_OBJECT = Param("VM", "objects", pipeline_types=("VirtualMachine",))


def resolve_vms(
    ctx: Context, bound: dict[str, Any], *, name_key: str = "VMName", required: bool = True, include_tests: bool = True
) -> list[VirtualMachine]:
    """The VMs named by ``-VMName``/``-Name`` (wildcards allowed) or given as objects (``-VM``, the pipeline).

    A name without wildcards that matches nothing raises Hyper-V's "unable to find a virtual machine" error.
    """
    host = ctx.host
    found: list[VirtualMachine] = []
    for obj in bound.get("VM") or []:
        vm = obj.ref if isinstance(obj, ModelObject) and isinstance(obj.ref, VirtualMachine) else None
        if vm is None:
            raise errors.invalid_argument(
                "The VM parameter needs a virtual machine object (from Get-VM).",
                "ParameterArgumentTransformationError",
                "VM",
            )
        current = host.vms.get(vm.id)
        if current is None:
            raise errors.vm_not_found(vm.name)
        found.append(current)
    names = bound.get(name_key)
    if names is not None:
        for name in names:
            matches = host.vms_named(name)
            if not matches and not any(ch in name for ch in "*?["):
                raise errors.vm_not_found(name)
            found.extend(matches)
    elif not bound.get("VM") and not required:
        found.extend(host.vms.values())
    elif not bound.get("VM"):
        raise PSError(
            f"Cannot process command because of one or more missing mandatory parameters: {name_key}.",
            error_id="MissingMandatoryParameter",
            category="InvalidArgument",
            target=name_key,
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
        count_vm_params: Iterable[str] = ("VMName", "Name", "VM", "VMRecoverySnapshot"),
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
            return self._run(spec, invocation)

        return run

    def _run(self, spec: CmdletSpec, invocation: Invocation) -> list[Any]:
        backend = self.backend
        with backend.lock:
            backend.sync()
            counted: list[str] = []
            try:
                inputs = list(invocation.pipeline_input)
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

    def _targets(self, bound: dict[str, Any]) -> list[HyperVHost | VMMServer]:
        """The host the cmdlet runs against: this one, or each ``-ComputerName`` (the lab knows all its hosts;
        an unknown name fails as a real host's CIM call to an unreachable computer does)."""
        backend = self.backend
        if self.kind == "vmm":
            server = backend.vmm(self._name)
            if server is None:
                raise PSError(
                    f"The lab has no VMM server named {self._name}.",
                    error_id="ObjectNotFound",
                    category="ObjectNotFound",
                )
            return [server]
        host = backend.host(self._name)
        if host is None:
            raise PSError(
                f"The lab has no Hyper-V host named {self._name}.", error_id="ObjectNotFound", category="ObjectNotFound"
            )
        names = bound.get("ComputerName")
        if names is None:
            return [host]
        targets: list[HyperVHost | VMMServer] = []
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
    return PSError(
        f"The operation on computer '{name}' failed: WinRM cannot process the request. The following error occurred "
        f"while using Kerberos authentication: Cannot find the computer {name}. Verify that the computer exists on "
        "the network and that the name provided is spelled correctly.",
        error_id="Unspecified",
        category="NotSpecified",
    )
