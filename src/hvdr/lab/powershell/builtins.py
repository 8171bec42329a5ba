"""The PowerShell built-in commands the lab runs itself (everything else is a host cmdlet).

Each takes a :class:`BuiltinCall` (named values by lower-case name, positional values in order, the pipeline
input) and returns the objects it writes, or raises :class:`~hvdr.lab.seam.PSError` with the id PowerShell's
own cmdlet uses (the evaluator appends ``,Microsoft.PowerShell.Commands.<Verb><Noun>Command``).
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cmp_to_key
from typing import TYPE_CHECKING, Any

from hvdr.lab.powershell.jsonout import convert_to_json
from hvdr.lab.powershell.operators import compare, comparison, equals, has_wildcard, wildcard
from hvdr.lab.powershell.values import format_output, get_member, to_bool, to_int, to_number, to_string, unroll
from hvdr.lab.seam import PSCustomObject, PSError, PSObject

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
    write_host: Callable[[str], None]


class WriteErrorRequest(PSError):
    """Write-Error's record: the evaluator writes it with Write-Error's own id and view, not as a failure of the
    command itself."""


def _not_found(parameter: str) -> PSError:
    return PSError(
        f"A parameter cannot be found that matches parameter name '{parameter}'.",
        error_id="NamedParameterNotFound",
        category="InvalidArgument",
        target=parameter,
    )


def _positional_not_found(value: Any) -> PSError:
    return PSError(
        f"A positional parameter cannot be found that accepts argument '{to_string(value)}'.",
        error_id="PositionalParameterNotFound",
        category="InvalidArgument",
        target=to_string(value),
    )


COMMON = frozenset({"verbose", "debug", "warningaction", "informationaction", "outvariable", "outbuffer", "vb", "wa"})


def _bind(call: BuiltinCall, parameters: tuple[str, ...], positional: int = 0) -> dict[str, Any]:
    """Named values under their full names (a unique prefix is enough, as in PowerShell), then positionals."""
    bound: dict[str, Any] = {}
    for written, value in call.named.items():
        if written in COMMON:
            continue
        matches = [p for p in parameters if p == written] or [p for p in parameters if p.startswith(written)]
        if len(matches) != 1:
            if matches:
                raise PSError(
                    f"Parameter cannot be processed because the parameter name '{written}' is ambiguous. Possible "
                    f"matches include: {' '.join('-' + m for m in matches)}.",
                    error_id="AmbiguousParameter",
                    category="InvalidArgument",
                    target=written,
                )
            raise _not_found(written)
        bound[matches[0]] = value
    if len(call.positional) > positional:
        raise _positional_not_found(call.positional[positional])
    return bound


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


def _block(value: Any) -> ScriptBlockValue | None:
    # The evaluator's ScriptBlockValue, recognised by name: the evaluator imports this module.
    return value if type(value).__name__ == "ScriptBlockValue" else None


def _property_names(obj: Any) -> list[str]:
    if isinstance(obj, PSObject):
        return list(obj.ps_properties())
    if isinstance(obj, dict):
        return [str(k) for k in obj]
    return []


def _property(name: str) -> Callable[[Any], Any]:
    def read(obj: Any) -> Any:
        return get_member(obj, name)

    return read


def _calculated(call: BuiltinCall, block: ScriptBlockValue) -> Callable[[Any], Any]:
    def compute(obj: Any) -> Any:
        return _single(call.invoke_block(block, obj))

    return compute


def _specs(call: BuiltinCall, specs: list[Any], sample: Any) -> list[tuple[str, Callable[[Any], Any]]]:
    out: list[tuple[str, Callable[[Any], Any]]] = []
    for spec in specs:
        if isinstance(spec, dict):
            label = _hash_key(spec, "name", "label")
            expression = _hash_key(spec, "expression")
            if not isinstance(label, str) or expression is None:
                raise PSError(
                    "The hash literal must specify a name and an expression.",
                    error_id="DictionaryKeyMissing",
                    category="InvalidArgument",
                )
            block = _block(expression)
            if block is not None:
                out.append((label, _calculated(call, block)))
            else:
                out.append((label, _property(to_string(expression))))
        elif _block(spec) is not None:
            raise PSError(
                "Cannot convert the script block to a property name; use @{Name=...; Expression={...}}.",
                error_id="DictionaryKeyIllegalValue",
                category="InvalidArgument",
            )
        else:
            name = to_string(spec)
            if has_wildcard(name):
                pattern = wildcard(name)
                out.extend((p, _property(p)) for p in _property_names(sample) if pattern.match(p))
            else:
                out.append((name, _property(name)))
    return out


def select_object(call: BuiltinCall) -> list[Any]:
    """``Select-Object [-Property] a, @{n=…; e={…}} [-ExpandProperty x] [-First n] [-Last n] [-Skip n] [-Unique]``."""
    bound = _bind(
        call,
        ("property", "expandproperty", "first", "last", "skip", "unique", "inputobject", "excludeproperty", "index"),
        positional=1,
    )
    if call.positional:
        bound["property"] = call.positional[0]
    items = list(call.pipeline_input) if call.piped else unroll(bound.get("inputobject"))
    if "skip" in bound:
        items = items[to_int(bound["skip"]) :]
    if "first" in bound or "last" in bound:
        first = items[: to_int(bound["first"])] if "first" in bound else []
        last = items[len(items) - to_int(bound["last"]) :] if "last" in bound and to_int(bound["last"]) else []
        items = first + [item for item in last if not any(item is f for f in first)]
    if to_bool(bound.get("unique")):
        unique: list[Any] = []
        for item in items:
            if not any(equals(item, seen, True) for seen in unique):
                unique.append(item)
        items = unique
    results: list[Any] = []
    if "property" in bound:
        specs = unroll(bound["property"])
        wildcards = any(isinstance(spec, str) and has_wildcard(spec) for spec in specs)
        fixed = None if wildcards else _specs(call, specs, None)
        for obj in items:
            columns = fixed if fixed is not None else _specs(call, specs, obj)
            results.append(PSCustomObject({label: fn(obj) for label, fn in columns}))
    else:
        results = items
    expand = bound.get("expandproperty")
    if expand is None:
        return results
    name = to_string(expand)
    expanded: list[Any] = []
    for obj in results:
        if name.lower() not in (p.lower() for p in _property_names(obj)) and get_member(obj, name) is None:
            raise PSError(
                f'Property "{name}" cannot be found.',
                error_id="ExpandPropertyNotFound",
                category="InvalidArgument",
                target=to_string(obj),
            )
        expanded.extend(unroll(get_member(obj, name)))
    return expanded


_WHERE_OPERATORS = frozenset(
    {
        *(
            f"{prefix}{op}"
            for prefix in ("", "c")
            for op in (
                "eq",
                "ne",
                "gt",
                "ge",
                "lt",
                "le",
                "like",
                "notlike",
                "match",
                "notmatch",
                "contains",
                "notcontains",
                "in",
                "notin",
            )
        ),
        "is",
        "isnot",
    }
)


def where_object(call: BuiltinCall) -> list[Any]:
    """``Where-Object { $_.x -eq 1 }`` or the simplified ``Where-Object Name -eq 'x'``."""
    named = dict(call.named)
    operators = [name for name in named if name in _WHERE_OPERATORS or name in ("not",)]
    op = operators[0] if operators else None
    value: Any = named.pop(op) if op else None
    call = BuiltinCall(
        call.name,
        named,
        call.positional,
        call.pipeline_input,
        call.piped,
        call.cancelled,
        call.invoke_block,
        call.write_host,
    )
    bound = _bind(call, ("filterscript", "property", "value", "inputobject"), positional=2)
    positional = list(call.positional)
    first = bound.get("filterscript", bound.get("property", positional.pop(0) if positional else None))
    if "value" in bound:
        value = bound["value"]
    elif positional:
        value = positional.pop(0)
    items = list(call.pipeline_input) if call.piped else unroll(bound.get("inputobject"))
    block = _block(first)
    if block is not None:
        return [item for item in items if to_bool(call.invoke_block(block, item))]
    if first is None:
        raise PSError(
            "Cannot process command because of one or more missing mandatory parameters: Property.",
            error_id="MissingMandatoryParameter",
            category="InvalidArgument",
        )
    name = to_string(first)
    kept: list[Any] = []
    for item in items:
        member = get_member(item, name)
        if op is None:
            keep = to_bool(member)
        elif op == "not":
            keep = not to_bool(member)
        else:
            keep = to_bool(comparison(op, member, value))
        if keep:
            kept.append(item)
    return kept


def foreach_object(call: BuiltinCall) -> list[Any]:
    """``ForEach-Object { … }`` (``-Begin``/``-Process``/``-End``) or ``ForEach-Object Name``."""
    bound = _bind(
        call,
        ("process", "begin", "end", "membername", "inputobject", "argumentlist", "remainingscripts"),
        positional=len(call.positional),
    )
    items = list(call.pipeline_input) if call.piped else unroll(bound.get("inputobject"))
    blocks = [_block(value) for value in call.positional]
    member = bound.get("membername")
    if call.positional and blocks[0] is None:
        if len(call.positional) > 1:
            raise _positional_not_found(call.positional[1])
        member = call.positional[0]
    if member is not None:
        output: list[Any] = []
        for item in items:
            value = get_member(item, to_string(member))
            output.extend(unroll(value) if value is not None else [])
        return output
    if any(b is None for b in blocks):
        raise _positional_not_found(call.positional[blocks.index(None)])
    begin, process, end = _block(bound.get("begin")), _block(bound.get("process")), _block(bound.get("end"))
    found = [b for b in blocks if b is not None]
    if len(found) == 1:
        process = found[0]
    elif len(found) == 2:
        begin, process = found
    elif len(found) >= 3:
        begin, process, end = found[0], found[1], found[-1]
    output = call.invoke_block(begin, None) if begin else []
    for item in items:
        if call.cancelled.is_set():
            raise Cancelled()
        if process is not None:
            output.extend(call.invoke_block(process, item))
    if end is not None:
        output.extend(call.invoke_block(end, None))
    return output


def sort_object(call: BuiltinCall) -> list[Any]:
    bound = _bind(call, ("property", "descending", "unique", "casesensitive", "inputobject"), positional=1)
    if call.positional:
        bound["property"] = call.positional[0]
    items = list(call.pipeline_input) if call.piped else unroll(bound.get("inputobject"))
    keys: list[Callable[[Any], Any]] = []
    for spec in unroll(bound.get("property")) if "property" in bound else []:
        block = _block(spec)
        keys.append(_calculated(call, block) if block is not None else _property(to_string(spec)))
    if not keys:
        keys = [lambda obj: obj]
    case = to_bool(bound.get("casesensitive"))

    def order(a: Any, b: Any) -> int:
        for key in keys:
            result = compare(key(a), key(b), case)
            if result:
                return result
        return 0

    result = sorted(items, key=cmp_to_key(order), reverse=to_bool(bound.get("descending")))
    if to_bool(bound.get("unique")):
        unique: list[Any] = []
        for item in result:
            if not unique or order(unique[-1], item) != 0:
                unique.append(item)
        result = unique
    return result


def measure_object(call: BuiltinCall) -> list[Any]:
    bound = _bind(call, ("property", "sum", "average", "maximum", "minimum", "inputobject"), positional=1)
    if call.positional:
        bound["property"] = call.positional[0]
    items = list(call.pipeline_input) if call.piped else unroll(bound.get("inputobject"))
    name = to_string(bound["property"]) if "property" in bound else None
    values = [get_member(item, name) for item in items] if name else items
    values = [v for v in values if v is not None]
    numbers = (
        [to_number(v) for v in values]
        if any(to_bool(bound.get(k)) for k in ("sum", "average", "maximum", "minimum"))
        else []
    )

    def stat(flag: str, fn: Callable[[list[Any]], Any]) -> Any:
        return fn(numbers) if to_bool(bound.get(flag)) and numbers else None

    return [
        PSCustomObject(
            {
                "Count": len(values),
                "Average": stat("average", lambda n: sum(n) / len(n)),
                "Sum": stat("sum", sum),
                "Maximum": stat("maximum", max),
                "Minimum": stat("minimum", min),
                "Property": name,
            },
            type_name="Microsoft.PowerShell.Commands.GenericMeasureInfo",
        )
    ]


def convert_to_json_cmd(call: BuiltinCall) -> list[Any]:
    """``ConvertTo-Json [-InputObject] <value> [-Depth n] [-Compress]``, or what the pipeline brings."""
    bound = _bind(call, ("inputobject", "depth", "compress"), positional=1)
    depth = to_int(bound.get("depth", 2))
    if not 1 <= depth <= 100:
        limit = (
            "greater than the maximum allowed range of 100"
            if depth > 100
            else "less than the minimum allowed range of 1"
        )
        bound_text = "less than or equal to 100" if depth > 100 else "greater than or equal to 1"
        raise PSError(
            f"Cannot validate argument on parameter 'Depth'. The {depth} argument is {limit}. Supply an argument "
            f"that is {bound_text} and then try the command again.",
            error_id="ParameterArgumentValidationError",
            category="InvalidData",
            target="Depth",
        )
    if call.positional:
        bound["inputobject"] = call.positional[0]
    if call.piped:
        if not call.pipeline_input:
            return []
        value = call.pipeline_input[0] if len(call.pipeline_input) == 1 else list(call.pipeline_input)
    else:
        value = bound.get("inputobject")
    return [convert_to_json(value, depth=depth, compress=to_bool(bound.get("compress")))]


def _formatted_rows(call: BuiltinCall, bound: dict[str, Any]) -> list[tuple[list[str], list[Any]]]:
    items = list(call.pipeline_input) if call.piped else unroll(bound.get("inputobject"))
    specs = unroll(bound["property"]) if "property" in bound else None
    rows: list[tuple[list[str], list[Any]]] = []
    for obj in items:
        if specs is None and not isinstance(obj, PSObject):
            rows.append(([], [obj]))
            continue
        columns = _specs(call, specs if specs is not None else ["*"], obj)
        rows.append(([label for label, _ in columns], [fn(obj) for _, fn in columns]))
    return rows


def format_list(call: BuiltinCall) -> list[Any]:
    """``Format-List [-Property] a, b`` (``*`` = every property): the list view, as text."""
    bound = _bind(call, ("property", "inputobject"), positional=1)
    if call.positional:
        bound["property"] = call.positional[0]
    lines: list[str] = []
    for labels, values in _formatted_rows(call, bound):
        if not labels:
            lines.append(to_string(values[0]))
            continue
        width = max(len(label) for label in labels)
        lines.extend(["", *(f"{label.ljust(width)} : {to_string(v)}" for label, v in zip(labels, values, strict=True))])
    return ["\r\n".join([*lines, "", ""])] if lines else []


def format_table(call: BuiltinCall) -> list[Any]:
    """``Format-Table [-Property] a, b [-AutoSize]``: the table view with columns as wide as their contents."""
    bound = _bind(call, ("property", "autosize", "hidetableheaders", "wrap", "inputobject"), positional=1)
    if call.positional:
        bound["property"] = call.positional[0]
    rows = [row for row in _formatted_rows(call, bound) if row[0]]
    if not rows:
        return []
    labels = rows[0][0]
    cells = [[to_string(v) for v in values] for _, values in rows]
    numeric = [
        all(isinstance(values[i], int | float) and not isinstance(values[i], bool | enum.Enum) for _, values in rows)
        for i in range(len(labels))
    ]
    widths = [max(len(labels[i]), *(len(row[i]) for row in cells)) for i in range(len(labels))]

    def line(parts: list[str]) -> str:
        return " ".join(
            (p.rjust(w) if num else p.ljust(w)) for p, w, num in zip(parts, widths, numeric, strict=True)
        ).rstrip()

    header = [] if to_bool(bound.get("hidetableheaders")) else [line(labels), line(["-" * len(x) for x in labels])]
    return ["\r\n".join(["", *header, *(line(row) for row in cells), "", ""])]


def out_null(call: BuiltinCall) -> list[Any]:
    _bind(call, ("inputobject",))
    return []


def out_string(call: BuiltinCall) -> list[Any]:
    bound = _bind(call, ("inputobject", "stream", "width"))
    items = list(call.pipeline_input) if call.piped else unroll(bound.get("inputobject"))
    text = format_output(items)
    if to_bool(bound.get("stream")):
        return text.split("\r\n")[:-1]
    return [text]


def write_output(call: BuiltinCall) -> list[Any]:
    bound = _bind(call, ("inputobject", "noenumerate"), positional=len(call.positional))
    values = list(call.pipeline_input)
    sources = [*call.positional, *([bound["inputobject"]] if "inputobject" in bound else [])]
    for value in sources:
        values.extend([value] if to_bool(bound.get("noenumerate")) else unroll(value))
    return values


def write_host(call: BuiltinCall) -> list[Any]:
    """Text to the host: over WinRM powershell.exe's console host writes it to stdout."""
    bound = _bind(
        call,
        ("object", "nonewline", "separator", "foregroundcolor", "backgroundcolor"),
        positional=len(call.positional),
    )
    values = [*call.pipeline_input, *call.positional, *([bound["object"]] if "object" in bound else [])]
    separator = to_string(bound.get("separator", " "))
    text = separator.join(
        separator.join(to_string(v) for v in value) if isinstance(value, list | tuple) else to_string(value)
        for value in values
    )
    call.write_host(text if to_bool(bound.get("nonewline")) else text + "\r\n")
    return []


def write_error(call: BuiltinCall) -> list[Any]:
    """``Write-Error 'message' [-ErrorId id] [-Category c] [-TargetObject o]``: a non-terminating error."""
    bound = _bind(
        call,
        ("message", "errorid", "category", "targetobject", "exception", "recommendedaction", "categoryreason"),
        positional=1,
    )
    message = to_string(call.positional[0] if call.positional else bound.get("message", bound.get("exception")))
    target = bound.get("targetobject")
    raise WriteErrorRequest(
        message,
        error_id=to_string(bound.get("errorid") or "Microsoft.PowerShell.Commands.WriteErrorException"),
        category=to_string(bound.get("category") or "NotSpecified"),
        target=None if target is None else to_string(target),
    )


def write_warning(call: BuiltinCall) -> list[Any]:
    """``Write-Warning 'x'``: powershell.exe's console host prints ``WARNING: x`` on stdout."""
    _bind(call, ("message",), positional=1)
    message = call.positional[0] if call.positional else call.named.get("message")
    call.write_host(f"WARNING: {to_string(message)}\r\n")
    return []


def write_quiet(call: BuiltinCall) -> list[Any]:
    """``Write-Verbose``/``Write-Debug``: silent under the default preferences (a ``-Verbose`` switch is not)."""
    _bind(call, ("message",), positional=1)
    return []


def start_sleep(call: BuiltinCall) -> list[Any]:
    bound = _bind(call, ("seconds", "milliseconds"), positional=1)
    if "milliseconds" in bound:
        seconds = float(to_number(bound["milliseconds"])) / 1000
    else:
        seconds = float(to_number(bound.get("seconds", call.positional[0] if call.positional else 0)))
    if call.cancelled.wait(max(0.0, seconds)):
        raise Cancelled()
    return []


BUILTINS: dict[str, Callable[[BuiltinCall], list[Any]]] = {
    "select-object": select_object,
    "where-object": where_object,
    "foreach-object": foreach_object,
    "sort-object": sort_object,
    "measure-object": measure_object,
    "convertto-json": convert_to_json_cmd,
    "out-null": out_null,
    "format-list": format_list,
    "format-table": format_table,
    "out-string": out_string,
    "write-output": write_output,
    "write-host": write_host,
    "write-error": write_error,
    "write-warning": write_warning,
    "write-verbose": write_quiet,
    "write-debug": write_quiet,
    "start-sleep": start_sleep,
}
# The switch parameters of the builtins: a value written after one is a positional argument.
SWITCHES: dict[str, frozenset[str]] = {
    "select-object": frozenset({"unique"}),
    "sort-object": frozenset({"descending", "unique", "casesensitive"}),
    "measure-object": frozenset({"sum", "average", "maximum", "minimum"}),
    "convertto-json": frozenset({"compress"}),
    "out-string": frozenset({"stream"}),
    "format-table": frozenset({"autosize", "hidetableheaders", "wrap"}),
    "write-output": frozenset({"noenumerate"}),
    "write-host": frozenset({"nonewline"}),
}
ALIASES = {
    "select": "Select-Object",
    "where": "Where-Object",
    "?": "Where-Object",
    "foreach": "ForEach-Object",
    "%": "ForEach-Object",
    "sort": "Sort-Object",
    "measure": "Measure-Object",
    "echo": "Write-Output",
    "write": "Write-Output",
    "sleep": "Start-Sleep",
    "fl": "Format-List",
    "ft": "Format-Table",
}
# Builtins the driver's builders never use: they exist for operators' own scripts.
OPERATOR_COMMANDS = frozenset(BUILTINS) - {"select-object", "convertto-json", "out-null", "foreach-object"}
