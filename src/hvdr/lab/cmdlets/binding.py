"""A small declarative parameter binder that behaves like PowerShell's for the cmdlets the lab implements.

Named parameters match a name or alias exactly, or else a unique prefix of one (``-VMN`` → ``-VMName``), all
case-insensitively; common parameters (``-Confirm:$false``, ``-ErrorAction`` …) and Hyper-V's remoting
parameters are accepted everywhere. Positional arguments fill the parameters that declare a position, in
order. Values convert as PowerShell converts them (a string to an enum by name, a scalar to an array …).
Binding errors carry PowerShell's own ids and wording:

================================  =================================================================
``NamedParameterNotFound``        A parameter cannot be found that matches parameter name 'X'.
``AmbiguousParameter``            Parameter cannot be processed because the parameter name 'X' is
                                  ambiguous. Possible matches include: -A -B.
``ParameterAlreadyBound``         Cannot bind parameter because parameter 'X' is specified more than once.
``PositionalParameterNotFound``   A positional parameter cannot be found that accepts argument 'v'.
``MissingMandatoryParameter``     Cannot process command because of one or more missing mandatory
                                  parameters: X Y.
``MissingArgument``               Missing an argument for parameter 'X'. Specify a parameter of type 'T'
                                  and try again.
``ParameterArgumentTransformationError``  Cannot process argument transformation on parameter 'X'. …
``InputObjectNotBound``           The input object cannot be bound to any parameters for the command …
================================  =================================================================
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
    "Confirm",
    "WhatIf",
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
REMOTING = ("ComputerName", "Credential", "CimSession", "AsJob")
COMMON_ALIASES = {
    "cf": "Confirm",
    "wi": "WhatIf",
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


@dataclass(frozen=True)
class Param:
    """One parameter of a cmdlet's signature."""

    name: str
    kind: str = "string"
    aliases: tuple[str, ...] = ()
    position: int | None = None
    mandatory: bool = False
    enum: type[enum.IntEnum] | None = None
    pipeline_types: tuple[str, ...] = ()
    """PowerShell type names (last segment) bound by value from the pipeline."""
    by_property_name: bool = False


@dataclass
class Signature:
    params: list[Param]
    remoting: bool = True
    _names: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for param in self.params:
            for name in (param.name, *param.aliases):
                self._names[name.lower()] = param.name
        for name in COMMON + (REMOTING if self.remoting else ()):
            self._names.setdefault(name.lower(), name)
        for alias, name in COMMON_ALIASES.items():
            self._names.setdefault(alias, name)
        self._by_name = {p.name: p for p in self.params}

    def resolve_name(self, written: str) -> str:
        lowered = written.lower()
        if lowered in self._names:
            return self._names[lowered]
        matches = sorted({canonical for name, canonical in self._names.items() if name.startswith(lowered)})
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise PSError(
                f"A parameter cannot be found that matches parameter name '{written}'.",
                error_id="NamedParameterNotFound",
                category="InvalidArgument",
                target=written,
            )
        raise PSError(
            f"Parameter cannot be processed because the parameter name '{written}' is ambiguous. Possible matches "
            f"include: {' '.join('-' + m for m in matches)}.",
            error_id="AmbiguousParameter",
            category="InvalidArgument",
            target=written,
        )

    def bind(self, invocation: Invocation, pipeline_object: object = None, piped: bool = False) -> dict[str, Any]:
        """Bind named, positional and (one) pipeline argument to canonical parameter names."""
        bound: dict[str, Any] = {}
        for written, value in invocation.named:
            name = self.resolve_name(written)
            if name in bound:
                raise PSError(
                    f"Cannot bind parameter because parameter '{name}' is specified more than once. To provide "
                    "multiple values to parameters that can accept multiple values, use the array syntax.",
                    error_id="ParameterAlreadyBound",
                    category="InvalidArgument",
                    target=name,
                )
            param = self._by_name.get(name)
            bound[name] = convert(param, value) if param else value
        positional = sorted((p for p in self.params if p.position is not None), key=lambda p: p.position or 0)
        free = [p for p in positional if p.name not in bound]
        for value in invocation.positional:
            if not free:
                raise PSError(
                    f"A positional parameter cannot be found that accepts argument '{_show(value)}'.",
                    error_id="PositionalParameterNotFound",
                    category="InvalidArgument",
                    target=_show(value),
                )
            param = free.pop(0)
            bound[param.name] = convert(param, value)
        if piped:
            self._bind_pipeline(bound, pipeline_object)
        missing = [p.name for p in self.params if p.mandatory and p.name not in bound]
        if missing:
            raise PSError(
                f"Cannot process command because of one or more missing mandatory parameters: {' '.join(missing)}.",
                error_id="MissingMandatoryParameter",
                category="InvalidArgument",
                target=missing[0],
            )
        return bound

    def _bind_pipeline(self, bound: dict[str, Any], obj: object) -> None:
        type_name = obj.ps_type_name.rsplit(".", 1)[-1] if isinstance(obj, PSObject) else type(obj).__name__
        for param in self.params:
            if param.name not in bound and type_name in param.pipeline_types:
                bound[param.name] = convert(param, obj)
                return
        if isinstance(obj, PSObject):
            for param in self.params:
                if param.by_property_name and param.name not in bound:
                    value = obj.ps_get(param.name)
                    if value is not None:
                        bound[param.name] = convert(param, value)
                        return
        if isinstance(obj, str):
            for param in self.params:
                if param.name not in bound and "String" in param.pipeline_types:
                    bound[param.name] = convert(param, obj)
                    return
        raise PSError(
            "The input object cannot be bound to any parameters for the command either because the command does "
            "not take pipeline input or the input and its properties do not match any of the parameters that "
            "take pipeline input.",
            error_id="InputObjectNotBound",
            category="InvalidArgument",
        )


def _show(value: object) -> str:
    return value.name if isinstance(value, enum.Enum) else str(value)


def _transform_error(param: Param, value: object, why: str) -> PSError:
    return PSError(
        f"Cannot process argument transformation on parameter '{param.name}'. Cannot convert value "
        f'"{_show(value)}" to type "{_NET_TYPES.get(param.kind, param.kind)}". Error: "{why}"',
        error_id="ParameterArgumentTransformationError",
        category="InvalidData",
        target=param.name,
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
    raise PSError(
        f"Cannot process argument transformation on parameter '{param.name}'. Cannot convert value "
        f'"{_show(value)}" to type "System.Boolean". Boolean parameters accept only Boolean values and numbers, '
        "such as $True, $False, 1 or 0.",
        error_id="ParameterArgumentTransformationError",
        category="InvalidData",
        target=param.name,
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
        raise PSError(
            f"Missing an argument for parameter '{param.name}'. Specify a parameter of type "
            f"'{_NET_TYPES.get(param.kind, param.kind)}' and try again.",
            error_id="MissingArgument",
            category="InvalidArgument",
            target=param.name,
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
            raise PSError(
                f"Cannot bind parameter '{param.name}'. Cannot convert value \"{_show(value)}\" to type "
                f'"Microsoft.HyperV.PowerShell.{param.enum.__name__}". Error: "Unable to match the identifier '
                f"name {_show(value)} to a valid enumerator name. Specify one of the following enumerator names and "
                f'try again: {names}"',
                error_id="CannotConvertArgumentNoMessage",
                category="InvalidArgument",
                target=param.name,
            ) from None
    if kind == "guid":
        try:
            return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except ValueError:
            raise _transform_error(param, value, "Guid should contain 32 digits with 4 dashes.") from None
    if kind == "objects":
        return value if isinstance(value, list) else [value]
    if kind == "hashtable" and not isinstance(value, dict):
        raise _transform_error(param, value, "The value is not a hashtable.")
    return value
