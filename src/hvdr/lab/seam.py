"""The seam between the lab's Hyper-V models and its wire (WS-Management + the PowerShell subset).

moto keeps models and responses apart; so does the lab. The models (``hvdr.lab.models``) know Hyper-V:
hosts, VMs, disks, the Replica state machine, recovery points, faults. The wire (``hvdr.lab.wsman`` and
``hvdr.lab.powershell``) knows WS-Management envelopes, ``powershell -encodedcommand``, the PowerShell
subset that ``hvdr.hyperv`` emits, ``ConvertTo-Json`` and CLIXML error records. Neither imports the
other's internals; they meet only through the types in this module.

Values that cross the seam (cmdlet arguments and results) are plain Python values:
``str``, ``int``, ``float``, ``bool``, ``None``, ``datetime`` (timezone-aware, UTC), ``timedelta``
(PowerShell ``TimeSpan``), ``uuid.UUID`` (``Guid``), ``enum.IntEnum`` members whose class mirrors a
Hyper-V enum (``[string]`` gives the member name, ``ConvertTo-Json`` on Windows PowerShell 5.1 gives the
integer), ``list`` (arrays) and :class:`PSObject` (objects with ordered properties).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class PSObject:
    """An object returned by a cmdlet: ordered, case-insensitively addressed properties.

    Models subclass it (``VirtualMachine``, ``VMReplication`` …) or build one from a mapping. The wire reads
    properties with :meth:`ps_get` (``$_.ReplicationState``) and serialises :meth:`ps_properties`.
    """

    ps_type_name: str = "System.Management.Automation.PSCustomObject"

    def ps_properties(self) -> dict[str, Any]:
        """Every property, in PowerShell's display order, with its current value."""
        raise NotImplementedError

    def ps_get(self, name: str) -> Any:
        """One property, matched case-insensitively; a missing property is ``$null`` as in PowerShell."""
        props = self.ps_properties()
        if name in props:
            return props[name]
        lowered = name.lower()
        for key, value in props.items():
            if key.lower() == lowered:
                return value
        return None


class PSCustomObject(PSObject):
    """``[pscustomobject]@{...}`` and the result of ``Select-Object`` with calculated properties."""

    def __init__(self, properties: Mapping[str, Any], type_name: str | None = None) -> None:
        self._properties = dict(properties)
        if type_name:
            self.ps_type_name = type_name

    def ps_properties(self) -> dict[str, Any]:
        return self._properties


class PSError(Exception):
    """A terminating error as a cmdlet raises it; the wire turns it into a CLIXML ErrorRecord.

    ``error_id`` is the FullyQualifiedErrorId's first part, the exception's identifier as a real host writes it
    (``InvalidState``, ``InvalidParameter``, ``ObjectNotFound``, ``OperationFailed``, ``AccessDenied``,
    ``Unspecified`` for Hyper-V; ``NamedParameterNotFound``, ``AmbiguousParameterSet``, ``MissingArgument`` …
    for PowerShell's binder). ``category`` is a PowerShell ErrorCategory name (``InvalidOperation``,
    ``InvalidArgument``, ``ObjectNotFound``, ``PermissionDenied``, ``ConnectionError``, ``InvalidData``,
    ``NotSpecified`` …). ``exception`` is the exception type CategoryInfo names (``VirtualizationException``,
    ``ParameterBindingException`` …; None lets the wire choose). ``command_class`` is the FullyQualifiedErrorId's
    second part, the implementing class (``Microsoft.HyperV.PowerShell.Commands.StartVMFailover``); the cmdlet
    registry fills it in, so models never spell it.
    """

    def __init__(
        self,
        message: str,
        *,
        error_id: str,
        category: str,
        target: str | None = None,
        exception: str | None = None,
        command_class: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_id = error_id
        self.category = category
        self.target = target
        self.exception = exception
        self.command_class = command_class


@dataclass
class Invocation:
    """One cmdlet call as the script wrote it, before parameter binding.

    ``named`` keeps parameter names as written (without the dash; ``-Confirm:$false`` gives
    ``("Confirm", False)``; a switch without a value gives ``(name, True)``), in order. ``positional``
    holds the unnamed arguments. ``pipeline_input`` holds the objects piped in (empty when none).
    Binding (aliases, prefixes, positions, types, mandatory parameters) is the cmdlet's job, because only
    the models know each cmdlet's real signature.
    """

    name: str
    named: list[tuple[str, Any]] = field(default_factory=list)
    positional: list[Any] = field(default_factory=list)
    pipeline_input: list[Any] = field(default_factory=list)
    piped: bool = False
    """The command stands after a ``|``: with nothing piped in, PowerShell never runs its record processing."""


Cmdlet = Callable[[Invocation], list[Any]]
"""A cmdlet: takes one invocation, returns the objects it writes to the pipeline, or raises PSError."""


@dataclass
class WireFaults:
    """What the wire must do to a host's WinRM traffic right now (set through the lab's fault API).

    ``down``: refuse connections on the host's port. ``latency_s``: added to every WS-Management request.
    ``error_rate``: the fraction of requests answered with HTTP 500 and a WS-Management fault.
    ``cmdlet_latency_s``: extra seconds a given cmdlet takes (keyed by cmdlet name, case-insensitive).
    ``cmdlet_errors``: cmdlets (lower-case names) that fail before they change anything.
    """

    down: bool = False
    latency_s: float = 0.0
    error_rate: float = 0.0
    cmdlet_latency_s: dict[str, float] = field(default_factory=dict)
    cmdlet_errors: set[str] = field(default_factory=set)


class PSHost(Protocol):
    """One simulated Hyper-V host as the wire sees it.

    The wire may call cmdlets from several threads at once; the models serialise access to their state
    themselves, and count each call for the control API's ``GET /calls``.
    """

    @property
    def name(self) -> str:
        """The host's FQDN."""
        ...

    def cmdlet(self, name: str) -> Cmdlet | None:
        """The cmdlet of that name (case-insensitive), or None when this host has no such command."""
        ...

    def wire_faults(self) -> WireFaults:
        """The faults in force for this host's WinRM endpoint at this moment."""
        ...
