"""A declarative parameter binder that behaves like PowerShell's for the cmdlets the lab implements.

A cmdlet declares its parameters as Microsoft's reference documents them (one :class:`Param` per parameter
block of ``docset/winserver2022-ps/hyper-v/<Cmdlet>.md``): the parameter sets it belongs to, its position, whether
it is mandatory, its aliases and the pipeline input it accepts. Binding follows PowerShell's order: named
arguments (a name, an alias or a unique prefix of one, case-insensitive; common parameters everywhere), then
positional arguments into the lowest free position of the sets still possible (an argument of the parameter's
own type wins over one that needs converting: ``Start-VMFailover $vm`` binds ``-VM``, ``Start-VMFailover VM01``
``-VMName``), then the pipeline object (by value, then by property name); then one parameter set is chosen
(the only one left, else the default set, else the only one whose mandatory parameters are all bound) and its
mandatory parameters are checked. Values convert as PowerShell converts them (a string to an enum by name, a
scalar to an array …).

Binding errors carry PowerShell's own identifiers, exception types and wording (the cmdlet registry appends
the ``,Microsoft.HyperV.PowerShell.Commands.<Class>`` suffix):

=======================================  =========================================================================
``NamedParameterNotFound``               A parameter cannot be found that matches parameter name 'X'.
``AmbiguousParameter``                   Parameter cannot be processed because the parameter name 'X' is
                                         ambiguous. Possible matches include: -A -B.
``AmbiguousParameterSet``                Parameter set cannot be resolved using the specified named parameters.
``ParameterAlreadyBound``                Cannot bind parameter because parameter 'X' is specified more than once.
``PositionalParameterNotFound``          A positional parameter cannot be found that accepts argument 'v'.
``MissingMandatoryParameter``            Cannot process command because of one or more missing mandatory
                                         parameters: X Y.
``MissingArgument``                      Missing an argument for parameter 'X'. Specify a parameter of type 'T'
                                         and try again.
``ParameterArgumentTransformationError`` Cannot process argument transformation on parameter 'X'. …
``CannotConvertArgument``                Cannot bind parameter 'X'. Cannot convert the "v" value of type … to type …
``CannotConvertArgumentNoMessage``       Cannot bind parameter 'X'. Cannot convert value "v" to type "<enum>". …
``InputObjectNotBound``                  The input object cannot be bound to any parameters for the command …
=======================================  =========================================================================
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hvdr.lab.models.enums import parse_enum
from hvdr.lab.models.objects import ModelObject
from hvdr.lab.seam import Invocation, PSError, PSObject

COMMON = (
    "Verbose",
    "Debug",
    "ErrorAction",
    "WarningAction",
    "InformationAction",
    "ErrorVariable",
    "WarningVariable",
    "InformationVariable",
    "OutVariable",
    "OutBuffer",
    "PipelineVariable",
)
COMMON_ALIASES = {
    "vb": "Verbose",
    "db": "Debug",
    "ea": "ErrorAction",
    "wa": "WarningAction",
    "infa": "InformationAction",
    "ev": "ErrorVariable",
    "wv": "WarningVariable",
    "iv": "InformationVariable",
    "ov": "OutVariable",
    "ob": "OutBuffer",
    "pv": "PipelineVariable",
}
ALL_SETS = "__AllParameterSets"

_NET_TYPES = {
    "string": "System.String",
    "strings": "System.String[]",
    "int": "System.Int32",
    "long": "System.Int64",
    "bool": "System.Boolean",
    "switch": "System.Management.Automation.SwitchParameter",
    "datetime": "System.DateTime",
    "timespan": "System.TimeSpan",
    "guid": "System.Guid",
    "hashtable": "System.Collections.Hashtable",
    "object": "System.Object",
    "objects": "System.Object[]",
    "enum": "System.Enum",
}

BINDER_EXCEPTIONS = {
    "ParameterArgumentTransformationError": ("InvalidData", "ParameterBindingArgumentTransformationException"),
    "ParameterArgumentValidationError": ("InvalidData", "ParameterBindingValidationException"),
}
BINDER_IDS = frozenset(
    {
        "NamedParameterNotFound",
        "AmbiguousParameter",
        "AmbiguousParameterSet",
        "ParameterAlreadyBound",
        "PositionalParameterNotFound",
        "MissingMandatoryParameter",
        "MissingArgument",
        "ParameterArgumentTransformationError",
        "ParameterArgumentValidationError",
        "CannotConvertArgument",
        "CannotConvertArgumentNoMessage",
        "InputObjectNotBound",
    }
)
"""Every identifier the binder raises (the driver's contract test checks each is classified)."""


def binder_error(identifier: str, message: str) -> PSError:
    """A ParameterBindingException record: PowerShell's binder names no target (``CategoryInfo : InvalidArgument:
    (:) [Get-VM], ParameterBindingException``, as in public transcripts)."""
    category, exception = BINDER_EXCEPTIONS.get(identifier, ("InvalidArgument", "ParameterBindingException"))
    return PSError(message, error_id=identifier, category=category, exception=exception)


@dataclass(frozen=True)
class Param:
    """One parameter block of a cmdlet's reference page.

    A parameter whose position or mandatoriness differs between its sets is declared once per block, each
    with its own ``sets``.
    """

    name: str
    kind: str = "string"
    aliases: tuple[str, ...] = ()
    position: int | None = None
    mandatory: bool = False
    enum: type[enum.IntEnum] | None = None
    pipeline_types: tuple[str, ...] = ()
    """PowerShell type names (last segment) of the objects the parameter takes (an object of another type is
    refused with CannotConvertArgument) and, unless ``by_value`` is False, takes from the pipeline by value;
    ``String`` means a string parameter that takes pipeline input by value."""
    by_property_name: bool = False
    by_value: bool = True
    sets: tuple[str, ...] = ()
    """The parameter sets this block applies to; empty means all of the cmdlet's sets ("(All)")."""

    def to_type(self) -> str:
        if self.kind == "enum" and self.enum is not None:
            return f"Microsoft.HyperV.PowerShell.{self.enum.__name__}"
        if self.kind in ("object", "objects") and self.pipeline_types:
            suffix = "[]" if self.kind == "objects" else ""
            return f"Microsoft.HyperV.PowerShell.{self.pipeline_types[0]}{suffix}"
        return _NET_TYPES.get(self.kind, self.kind)


@dataclass
class Signature:
    params: list[Param]
    remoting: bool = False
    """Accept ``-ComputerName``/``-Credential``/``-CimSession``/``-AsJob`` without declaring them (VMM cmdlets
    and PowerShell's own, whose pages the lab does not mirror)."""
    default_set: str | None = None
    _names: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for param in self.params:
            for name in (param.name, *param.aliases):
                self._names[name.lower()] = param.name
        if self.remoting:
            for name in ("ComputerName", "Credential", "CimSession", "AsJob"):
                self._names.setdefault(name.lower(), name)
        for name in COMMON:
            self._names.setdefault(name.lower(), name)
        for alias, name in COMMON_ALIASES.items():
            self._names.setdefault(alias, name)
        self.sets: list[str] = list(dict.fromkeys(s for p in self.params for s in p.sets)) or [ALL_SETS]
        # parameter name → set → the block that applies there
        self._blocks: dict[str, dict[str, Param]] = {}
        for param in self.params:
            for set_name in param.sets or self.sets:
                self._blocks.setdefault(param.name, {})[set_name] = param

    def block(self, name: str, set_name: str) -> Param | None:
        """The declaration of a parameter that applies in one set (None when it is not in that set)."""
        return self._blocks.get(name, {}).get(set_name)

    def sets_of(self, name: str) -> list[str]:
        """The sets a parameter is valid in (every set for common parameters)."""
        blocks = self._blocks.get(name)
        return list(blocks) if blocks is not None else list(self.sets)

    def resolve_name(self, written: str) -> str:
        lowered = written.lower()
        if lowered in self._names:
            return self._names[lowered]
        matches = sorted({canonical for name, canonical in self._names.items() if name.startswith(lowered)})
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise binder_error(
                "NamedParameterNotFound", f"A parameter cannot be found that matches parameter name '{written}'."
            )
        raise binder_error(
            "AmbiguousParameter",
            f"Parameter cannot be processed because the parameter name '{written}' is ambiguous. Possible matches "
            f"include: {' '.join('-' + m for m in matches)}.",
        )

    def bind(
        self, invocation: Invocation, pipeline_object: object = None, piped: bool = False, *, no_input: bool = False
    ) -> dict[str, Any]:
        """Bind named, positional and (one) pipeline argument to canonical parameter names in one parameter set.

        ``no_input``: the command stands after a ``|`` that delivered nothing; PowerShell still binds the command
        line (its binder errors stand) but leaves the parameter set and mandatory parameters to the pipeline
        records, which never come.
        """
        raw: dict[str, Any] = {}
        for written, value in invocation.named:
            name = self.resolve_name(written)
            if name in raw:
                raise binder_error(
                    "ParameterAlreadyBound",
                    f"Cannot bind parameter because parameter '{name}' is specified more than once. To provide "
                    "multiple values to parameters that can accept multiple values, use the array syntax.",
                )
            raw[name] = value
        candidates = [s for s in self.sets if all(s in self.sets_of(name) for name in raw)]
        if not candidates:
            raise _ambiguous_set()
        bound = {name: convert(self._block(name, candidates), value) for name, value in raw.items()}
        floor = 0
        for value in invocation.positional:
            param, floor = self._positional(bound, candidates, value, floor)
            bound[param.name] = convert(param, value)
            candidates = [s for s in candidates if s in self.sets_of(param.name)]
        if no_input:
            return bound
        if piped:
            param = self._bind_pipeline(bound, candidates, pipeline_object)
            candidates = [s for s in candidates if s in self.sets_of(param.name)]
        chosen = self._choose(bound, candidates)
        missing = [
            p.name for p in self.params if p.mandatory and chosen in (p.sets or self.sets) and p.name not in bound
        ]
        if missing:
            raise binder_error(
                "MissingMandatoryParameter",
                f"Cannot process command because of one or more missing mandatory parameters: {' '.join(missing)}.",
            )
        return bound

    def parameter_set(self, bound: dict[str, Any]) -> str:
        """The set a bound call ran in (for handlers that differ by set)."""
        return self._choose(bound, [s for s in self.sets if all(s in self.sets_of(n) for n in bound)])

    def _block(self, name: str, candidates: list[str]) -> Param | None:
        blocks = self._blocks.get(name)
        if not blocks:
            return None
        return next((blocks[s] for s in candidates if s in blocks), next(iter(blocks.values())))

    def _positional(self, bound: dict[str, Any], candidates: list[str], value: object, floor: int) -> tuple[Param, int]:
        slots = sorted(
            {
                (block.position, block.name): block
                for s in candidates
                for name, blocks in self._blocks.items()
                if name not in bound
                and (block := blocks.get(s)) is not None
                and block.position is not None
                and block.position >= floor
            }.items(),
            key=lambda item: item[0],
        )
        if not slots:
            raise binder_error(
                "PositionalParameterNotFound",
                f"A positional parameter cannot be found that accepts argument '{_show(value)}'.",
            )
        position = slots[0][0][0]
        at = [block for (pos, _), block in slots if pos == position]
        exact = [block for block in at if _exact(block, value)]
        if exact:
            return exact[0], position + 1
        convertible = [block for block in at if _convertible(block, value)]
        return (convertible or at)[0], position + 1

    def _choose(self, bound: dict[str, Any], candidates: list[str]) -> str:
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise _ambiguous_set()
        if self.default_set in candidates:
            return self.default_set
        complete = [
            s
            for s in candidates
            if all(p.name in bound for p in self.params if p.mandatory and s in (p.sets or self.sets))
        ]
        if len(complete) == 1:
            return complete[0]
        raise _ambiguous_set()

    def _bind_pipeline(self, bound: dict[str, Any], candidates: list[str], obj: object) -> Param:
        blocks = [
            block
            for name, per_set in self._blocks.items()
            if name not in bound
            for s in candidates
            if (block := per_set.get(s)) is not None
        ]
        blocks = list(dict.fromkeys(blocks))
        type_name = obj.ps_type_name.rsplit(".", 1)[-1] if isinstance(obj, PSObject) else type(obj).__name__
        for block in blocks:
            if block.by_value and type_name in block.pipeline_types:
                bound[block.name] = convert(block, obj)
                return block
        if isinstance(obj, PSObject):
            for block in blocks:
                if block.by_property_name:
                    value = obj.ps_get(block.name)
                    if value is None:
                        value = next((obj.ps_get(a) for a in block.aliases if obj.ps_get(a) is not None), None)
                    if value is not None:
                        bound[block.name] = convert(block, value)
                        return block
        if isinstance(obj, str | int):
            for block in blocks:
                if block.by_value and "String" in block.pipeline_types:
                    bound[block.name] = convert(block, obj)
                    return block
        raise binder_error(
            "InputObjectNotBound",
            "The input object cannot be bound to any parameters for the command either because the command does "
            "not take pipeline input or the input and its properties do not match any of the parameters that "
            "take pipeline input.",
        )


def _ambiguous_set() -> PSError:
    return binder_error(
        "AmbiguousParameterSet", "Parameter set cannot be resolved using the specified named parameters."
    )


def _exact(param: Param, value: object) -> bool:
    """The value already has the parameter's type (PowerShell binds without coercion first)."""
    values = value if isinstance(value, list) else [value]
    if not values:
        return False
    if param.kind in ("object", "objects") and param.pipeline_types:
        return all(
            isinstance(v, PSObject) and v.ps_type_name.rsplit(".", 1)[-1] in param.pipeline_types for v in values
        )
    if param.kind in ("string", "strings"):
        return all(isinstance(v, str) for v in values)
    if param.kind in ("int", "long"):
        return all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if param.kind == "enum":
        return all(isinstance(v, enum.Enum) for v in values)
    return False


def _convertible(param: Param, value: object) -> bool:
    try:
        convert(param, value)
    except PSError:
        return False
    return True


def _show(value: object) -> str:
    return value.name if isinstance(value, enum.Enum) else str(value)


def _transform_error(param: Param, value: object, why: str) -> PSError:
    return binder_error(
        "ParameterArgumentTransformationError",
        f"Cannot process argument transformation on parameter '{param.name}'. Cannot convert value "
        f'"{_show(value)}" to type "{param.to_type()}". Error: "{why}"',
    )


def _scalar_string(param: Param, value: object) -> str:
    if value is None or isinstance(value, PSObject | dict | list):
        if isinstance(value, ModelObject) and value.ps_get("Name") is not None:
            return str(value.ps_get("Name"))
        raise _transform_error(param, value, "The value is not a string.")
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, enum.Enum):
        return value.name
    return str(value)


_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?$")


def _timespan(param: Param, value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        match = _TIMESPAN.match(value.strip())
        if match:
            days, hours, minutes, seconds, fraction = match.groups()
            return timedelta(
                days=int(days or 0),
                hours=int(hours),
                minutes=int(minutes),
                seconds=int(seconds or 0),
                microseconds=int((fraction or "0")[:6].ljust(6, "0")),
            )
    raise _transform_error(param, value, "String was not recognized as a valid TimeSpan.")


def _datetime(param: Param, value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise _transform_error(param, value, "String was not recognized as a valid DateTime.")


def _int(param: Param, value: object) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    raise _transform_error(param, value, "Input string was not in a correct format.")


def _bool(param: Param, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    raise binder_error(
        "ParameterArgumentTransformationError",
        f"Cannot process argument transformation on parameter '{param.name}'. Cannot convert value "
        f'"{_show(value)}" to type "System.Boolean". Boolean parameters accept only Boolean values and numbers, '
        "such as $True, $False, 1 or 0.",
    )


_CONVERTERS: dict[str, Callable[[Param, object], Any]] = {
    "string": _scalar_string,
    "int": _int,
    "long": _int,
    "bool": _bool,
    "switch": _bool,
    "timespan": _timespan,
    "datetime": _datetime,
}


def convert(param: Param | None, value: object) -> Any:
    """PowerShell's argument conversion for one parameter."""
    if param is None:
        return value
    if value is True and param.kind not in ("switch", "bool", "object", "objects"):
        raise binder_error(
            "MissingArgument",
            f"Missing an argument for parameter '{param.name}'. Specify a parameter of type '{param.to_type()}' and "
            "try again.",
        )
    kind = param.kind
    if kind in _CONVERTERS:
        if isinstance(value, list):
            if len(value) != 1:
                raise _transform_error(param, value, "Specified method is not supported.")
            value = value[0]
        return _CONVERTERS[kind](param, value)
    if kind == "strings":
        values = value if isinstance(value, list) else [value]
        return [_scalar_string(param, v) for v in values]
    if kind == "enum":
        assert param.enum is not None
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        try:
            return parse_enum(param.enum, value)
        except ValueError:
            names = ", ".join(param.enum.__members__)
            raise binder_error(
                "CannotConvertArgumentNoMessage",
                f"Cannot bind parameter '{param.name}'. Cannot convert value \"{_show(value)}\" to type "
                f'"{param.to_type()}". Error: "Unable to match the identifier name {_show(value)} to a valid '
                f'enumerator name. Specify one of the following enumerator names and try again: {names}"',
            ) from None
    if kind == "guid":
        try:
            return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except ValueError:
            raise _transform_error(param, value, "Guid should contain 32 digits with 4 dashes.") from None
    if kind in ("object", "objects") and param.pipeline_types:
        values = value if isinstance(value, list) else [value]
        for item in values:
            type_name = item.ps_type_name.rsplit(".", 1)[-1] if isinstance(item, PSObject) else ""
            if type_name not in param.pipeline_types:
                shown = type(item).__name__ if not isinstance(item, PSObject) else item.ps_type_name
                net = {"str": "System.String", "int": "System.Int32"}.get(shown, shown)
                raise binder_error(
                    "CannotConvertArgument",
                    f"Cannot bind parameter '{param.name}'. Cannot convert the \"{_show(item)}\" value of type "
                    f'"{net}" to type "Microsoft.HyperV.PowerShell.{param.pipeline_types[0]}".',
                )
        if kind == "object":
            return values[0] if len(values) == 1 else value
        return values
    if kind == "objects":
        return value if isinstance(value, list) else [value]
    if kind == "hashtable" and not isinstance(value, dict):
        raise _transform_error(param, value, "The value is not a hashtable.")
    return value
