"""``ConvertTo-Json`` with Windows PowerShell 5.1 semantics (the version Hyper-V hosts run).

5.1 serialises through JavaScriptSerializer: enums become their integers, DateTime becomes
``"\\/Date(<ms since epoch>)\\/"``, Guid a string, TimeSpan an object of its properties; arrays and objects
beyond ``-Depth`` are replaced by their ToString(). ``<``, ``>``, ``&`` and ``'`` are written as ``\\u00XX``.
"""

from __future__ import annotations

import enum
import math
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hvdr.lab.powershell.values import timespan_properties, to_string
from hvdr.lab.seam import PSObject

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SPECIAL = re.compile("[\\x00-\\x1f\"\\\\<>&']")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class _Date:
    __slots__ = ("ms",)

    def __init__(self, value: datetime) -> None:
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        self.ms = math.floor((aware - _EPOCH) / timedelta(milliseconds=1))


def _process(value: Any, depth: int, max_depth: int) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return _Date(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if depth > max_depth:
        return to_string(value)
    if isinstance(value, timedelta):
        return dict(timespan_properties(value))
    if isinstance(value, Mapping):
        return {str(k): _process(v, depth + 1, max_depth) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_process(v, depth + 1, max_depth) for v in value]
    if isinstance(value, PSObject):
        return {k: _process(v, depth + 1, max_depth) for k, v in value.ps_properties().items()}
    return to_string(value)


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    return _ESCAPES.get(ch) or f"\\u{ord(ch):04x}"


def _string(text: str) -> str:
    """A JSON string as JavaScriptSerializer writes it (see _ESCAPES; other controls and <>&' as \\u00XX)."""
    return '"' + _SPECIAL.sub(_escape, text) + '"'


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _Date):
        return f'"\\/Date({value.ms})\\/"'
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return _string(to_string(value))
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _dump(value: Any, compress: bool, indent: int) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        if compress:
            return "{" + ",".join(f"{_string(k)}:{_dump(v, True, 0)}" for k, v in value.items()) + "}"
        pad = " " * (indent + 4)
        body = ",\n".join(f"{pad}{_string(k)}:  {_dump(v, False, indent + 4)}" for k, v in value.items())
        return "{\n" + body + "\n" + " " * indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if compress:
            return "[" + ",".join(_dump(v, True, 0) for v in value) + "]"
        pad = " " * (indent + 4)
        body = ",\n".join(pad + _dump(v, False, indent + 4) for v in value)
        return "[\n" + body + "\n" + " " * indent + "]"
    return _scalar(value)


def convert_to_json(value: Any, *, depth: int = 2, compress: bool = False) -> str:
    """The text ``ConvertTo-Json -InputObject $value -Depth depth [-Compress]`` writes."""
    return _dump(_process(value, 0, depth), compress, 0)
