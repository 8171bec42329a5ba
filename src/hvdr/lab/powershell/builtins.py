"""The few PowerShell built-in commands the lab runs itself (everything else is a host cmdlet)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hvdr.lab.powershell.jsonout import convert_to_json
from hvdr.lab.powershell.values import get_member, to_int, unroll
from hvdr.lab.seam import PSCustomObject, PSError

if TYPE_CHECKING:
    from hvdr.lab.powershell.evaluator import ScriptBlockValue


class Cancelled(Exception):
    """The command was terminated (WS-Management Signal or Delete) while it ran."""


@dataclass
class BuiltinCall:
    name: str
    named: dict[str, Any]
    positional: list[Any]
    pipeline_input: list[Any]
    piped: bool
    cancelled: threading.Event
    invoke_block: Callable[[ScriptBlockValue, Any], list[Any]]


def _not_found(parameter: str) -> PSError:
    return PSError(
        f"A parameter cannot be found that matches parameter name '{parameter}'.",
        error_id="NamedParameterNotFound",
        category="InvalidArgument",
    )


def _check(call: BuiltinCall, allowed: set[str], positional: int = 0) -> None:
    for name in call.named:
        if name not in allowed:
            raise _not_found(name)
    if len(call.positional) > positional:
        raise PSError(
            f"A positional parameter cannot be found that accepts argument '{call.positional[positional]}'.",
            error_id="PositionalParameterNotFound",
            category="InvalidArgument",
        )


def _single(values: list[Any]) -> Any:
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _hash_key(entry: dict[str, Any], *prefixes: str) -> Any:
    for key, value in entry.items():
        lowered = key.lower()
        if any(prefix.startswith(lowered) for prefix in prefixes):
            return value
    return None


def _property(name: str) -> Callable[[Any], Any]:
    def read(obj: Any) -> Any:
        return get_member(obj, name)

    return read


def _calculated(call: BuiltinCall, block: ScriptBlockValue) -> Callable[[Any], Any]:
    def compute(obj: Any) -> Any:
        return _single(call.invoke_block(block, obj))

    return compute


def select_object(call: BuiltinCall) -> list[Any]:
    """``Select-Object -Property name, @{n='...'; e={...}}`` (no -First, -ExpandProperty or wildcards)."""
    _check(call, {"property"})
    from hvdr.lab.powershell.evaluator import ScriptBlockValue

    specs: list[tuple[str, Callable[[Any], Any]]] = []
    for spec in unroll(call.named.get("property", [])):
        if isinstance(spec, str):
            if any(ch in spec for ch in "*?["):
                raise PSError(
                    "The lab's Select-Object does not expand wildcards.",
                    error_id="LabUnsupported",
                    category="NotImplemented",
                )
            specs.append((spec, _property(spec)))
        elif isinstance(spec, dict):
            label = _hash_key(spec, "name", "label")
            expression = _hash_key(spec, "expression")
            if not isinstance(label, str) or expression is None:
                raise PSError(
                    "The hash literal must specify a name and an expression.",
                    error_id="DictionaryKeyMissing",
                    category="InvalidArgument",
                )
            if isinstance(expression, ScriptBlockValue):
                specs.append((label, _calculated(call, expression)))
            else:
                specs.append((label, _property(str(expression))))
        else:
            raise PSError(
                "Cannot convert the property specification.",
                error_id="DictionaryKeyIllegalValue",
                category="InvalidArgument",
            )
    return [PSCustomObject({label: fn(obj) for label, fn in specs}) for obj in call.pipeline_input]


def convert_to_json_cmd(call: BuiltinCall) -> list[Any]:
    """``ConvertTo-Json -InputObject <value> [-Depth n] [-Compress]`` (pipeline input is refused)."""
    _check(call, {"inputobject", "depth", "compress"})
    if call.piped:
        raise PSError(
            "The lab's ConvertTo-Json takes its value from -InputObject only.",
            error_id="LabUnsupported",
            category="NotImplemented",
        )
    depth = to_int(call.named.get("depth", 2))
    if not 0 <= depth <= 100:
        raise PSError(
            f"Cannot validate argument on parameter 'Depth'. The {depth} argument is out of range.",
            error_id="ParameterArgumentValidationError",
            category="InvalidData",
        )
    value = call.named.get("inputobject")
    return [convert_to_json(value, depth=depth, compress=bool(call.named.get("compress", False)))]


def out_null(call: BuiltinCall) -> list[Any]:
    _check(call, set())
    return []


def write_output(call: BuiltinCall) -> list[Any]:
    _check(call, {"inputobject"}, positional=len(call.positional))
    values = list(call.pipeline_input)
    for value in [*call.positional, *([call.named["inputobject"]] if "inputobject" in call.named else [])]:
        values.extend(unroll(value))
    return values


def start_sleep(call: BuiltinCall) -> list[Any]:
    _check(call, {"seconds", "milliseconds"}, positional=1)
    if "milliseconds" in call.named:
        seconds = to_int(call.named["milliseconds"]) / 1000
    else:
        seconds = float(to_int(call.named.get("seconds", call.positional[0] if call.positional else 0)))
    if call.cancelled.wait(max(0.0, seconds)):
        raise Cancelled()
    return []


BUILTINS: dict[str, Callable[[BuiltinCall], list[Any]]] = {
    "select-object": select_object,
    "convertto-json": convert_to_json_cmd,
    "out-null": out_null,
    "write-output": write_output,
    "start-sleep": start_sleep,
}
