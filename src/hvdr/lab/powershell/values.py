"""PowerShell value semantics over the seam's plain Python values: casts, member access, ToString."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hvdr.lab.seam import PSCustomObject, PSError, PSObject

TICKS_PER_SECOND = 10_000_000


class CastError(PSError):
    def __init__(self, value: Any, type_name: str, reason: str) -> None:
        super().__init__(
            f'Cannot convert value "{to_string(value)}" to type "{type_name}". Error: "{reason}"',
            error_id="InvalidCastParseTargetInvocation",
            category="InvalidArgument",
        )


def timespan_ticks(value: timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * TICKS_PER_SECOND + value.microseconds * 10


def timespan_properties(value: timedelta) -> dict[str, Any]:
    """A TimeSpan's properties in the order Windows PowerShell 5.1's ConvertTo-Json writes them."""
    ticks = timespan_ticks(value)
    sign = -1 if ticks < 0 else 1
    whole, rem = divmod(abs(ticks), TICKS_PER_SECOND)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    return {
        "Ticks": ticks,
        "Days": sign * days,
        "Hours": sign * hours,
        "Milliseconds": sign * (rem // 10_000),
        "Minutes": sign * minutes,
        "Seconds": sign * seconds,
        "TotalDays": ticks / (86_400 * TICKS_PER_SECOND),
        "TotalHours": ticks / (3_600 * TICKS_PER_SECOND),
        "TotalMilliseconds": ticks / 10_000,
        "TotalMinutes": ticks / (60 * TICKS_PER_SECOND),
        "TotalSeconds": ticks / TICKS_PER_SECOND,
    }


def _format_timespan(value: timedelta) -> str:
    ticks = timespan_ticks(value)
    sign = "-" if ticks < 0 else ""
    whole, frac = divmod(abs(ticks), TICKS_PER_SECOND)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + (f".{frac:07d}" if frac else "")


def _format_float(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class ErrorRecordValue(PSObject):
    """``$_`` in a ``catch`` block: an ErrorRecord with its exception, id and category."""

    ps_type_name = "System.Management.Automation.ErrorRecord"

    def __init__(self, message: str, error_id: str, category: str, reason: str, target: str | None) -> None:
        self.message = message
        self.error_id = error_id
        self._properties = {
            "Exception": PSCustomObject({"Message": message}, type_name=f"System.Management.Automation.{reason}"),
            "TargetObject": target,
            "CategoryInfo": PSCustomObject(
                {"Category": category, "Activity": "", "Reason": reason, "TargetName": target or "", "TargetType": ""},
                type_name="System.Management.Automation.ErrorCategoryInfo",
            ),
            "FullyQualifiedErrorId": error_id,
            "ErrorDetails": None,
            "InvocationInfo": None,
            "ScriptStackTrace": "",
        }

    def ps_properties(self) -> dict[str, Any]:
        return self._properties


def to_string(value: Any) -> str:
    """``[string]$value``: invariant culture, as PowerShell casts."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, ErrorRecordValue):
        return value.message
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, enum.Enum):
        return str(value.name)
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%m/%d/%Y %H:%M:%S")
    if isinstance(value, timedelta):
        return _format_timespan(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return " ".join(to_string(item) for item in value)
    if isinstance(value, Mapping):
        return "System.Collections.Hashtable"
    if isinstance(value, PSCustomObject):
        return "@{" + "; ".join(f"{k}={to_string(v)}" for k, v in value.ps_properties().items()) + "}"
    if isinstance(value, PSObject):
        return value.ps_type_name
    return str(value)


def to_int(value: Any) -> int:
    """``[int]$value``: banker's rounding for floats, as .NET converts."""
    if value is None:
        return 0
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float):
        return round(value)
    if isinstance(value, str):
        try:
            return int(value.strip() or "0")
        except ValueError:
            raise CastError(value, "System.Int32", "Input string was not in a correct format.") from None
    raise CastError(value, "System.Int32", "Invalid cast.")


def to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise CastError(value, "System.DateTime", "String was not recognized as a valid DateTime.") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    raise CastError(value, "System.DateTime", "Invalid cast.")


def to_guid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            raise CastError(value, "System.Guid", "Guid should contain 32 digits with 4 dashes.") from None
    raise CastError(value, "System.Guid", "Invalid cast.")


def to_pscustomobject(value: Any) -> Any:
    if isinstance(value, Mapping):
        return PSCustomObject({str(k): v for k, v in value.items()})
    return value


def to_number(value: Any, type_name: str = "System.Int32") -> int | float:
    """A value used as a number (``"5"`` → 5, ``"1.5"`` → 1.5, ``$null`` → 0), as PowerShell converts."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, enum.Enum):
        return int(value.value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0
        try:
            return int(text, 16) if text.lower().startswith("0x") else int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            raise CastError(value, type_name, "Input string was not in a correct format.") from None
    if isinstance(value, list | tuple) and len(value) == 1:
        return to_number(value[0], type_name)
    raise CastError(value, type_name, "Invalid cast.")


def to_long(value: Any) -> int:
    number = to_number(value, "System.Int64")
    return round(number) if isinstance(number, float) else number


def to_double(value: Any) -> float:
    return float(to_number(value, "System.Double"))


def to_bool(value: Any) -> bool:
    """PowerShell's truth: ``$null``, 0, ``''``, an empty array and ``@($false)`` are false."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return bool(value.value)
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value != ""
    if isinstance(value, list | tuple):
        if not value:
            return False
        return to_bool(value[0]) if len(value) == 1 else True
    return True


def to_timespan(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(microseconds=value / 10)
    if isinstance(value, str):
        parts = value.strip().split(":")
        try:
            if len(parts) in (2, 3):
                days, _, hours = parts[0].rpartition(".")
                seconds = float(parts[2]) if len(parts) == 3 else 0.0
                return timedelta(days=int(days or 0), hours=int(hours), minutes=int(parts[1]), seconds=seconds)
            if len(parts) == 1:
                return timedelta(days=int(parts[0]))
        except ValueError:
            pass
        raise CastError(value, "System.TimeSpan", "String was not recognized as a valid TimeSpan.")
    raise CastError(value, "System.TimeSpan", "Invalid cast.")


def to_array(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def to_hashtable(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise CastError(value, "System.Collections.Hashtable", "Invalid cast.")


CASTS: dict[str, Callable[[Any], Any]] = {
    "string": to_string,
    "int": to_int,
    "long": to_long,
    "double": to_double,
    "bool": to_bool,
    "datetime": to_datetime,
    "timespan": to_timespan,
    "guid": to_guid,
    "pscustomobject": to_pscustomobject,
    "object": lambda value: value,
    "array": to_array,
    "string[]": lambda value: [to_string(item) for item in to_array(value)],
    "int[]": lambda value: [to_int(item) for item in to_array(value)],
    "hashtable": to_hashtable,
    "void": lambda value: None,
}
TYPE_FULL_NAMES = {
    "string": "System.String",
    "int": "System.Int32",
    "long": "System.Int64",
    "double": "System.Double",
    "bool": "System.Boolean",
    "datetime": "System.DateTime",
    "timespan": "System.TimeSpan",
    "guid": "System.Guid",
    "pscustomobject": "System.Management.Automation.PSObject",
    "object": "System.Object",
    "array": "System.Object[]",
    "string[]": "System.String[]",
    "int[]": "System.Int32[]",
    "hashtable": "System.Collections.Hashtable",
    "math": "System.Math",
    "void": "System.Void",
}


def type_name_of(value: Any) -> str:
    """The .NET type name PowerShell reports for a value (``[System.String]`` in error messages)."""
    if value is None:
        return "System.Object"
    if isinstance(value, bool):
        return "System.Boolean"
    if isinstance(value, enum.Enum):
        return f"Microsoft.HyperV.PowerShell.{type(value).__name__}"
    if isinstance(value, int):
        return "System.Int32" if -(2**31) <= value < 2**31 else "System.Int64"
    if isinstance(value, float):
        return "System.Double"
    if isinstance(value, str):
        return "System.String"
    if isinstance(value, datetime):
        return "System.DateTime"
    if isinstance(value, timedelta):
        return "System.TimeSpan"
    if isinstance(value, uuid.UUID):
        return "System.Guid"
    if isinstance(value, list | tuple):
        return "System.Object[]"
    if isinstance(value, Mapping):
        return "System.Collections.Hashtable"
    if isinstance(value, PSObject):
        return value.ps_type_name
    return "System.Object"


def is_instance(value: Any, canonical: str) -> bool:
    """``$value -is [type]`` for the subset's type names."""
    checks: dict[str, Any] = {
        "string": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool | enum.Enum) and -(2**31) <= v < 2**31,
        "long": lambda v: isinstance(v, int) and not isinstance(v, bool | enum.Enum),
        "double": lambda v: isinstance(v, float),
        "bool": lambda v: isinstance(v, bool),
        "datetime": lambda v: isinstance(v, datetime),
        "timespan": lambda v: isinstance(v, timedelta),
        "guid": lambda v: isinstance(v, uuid.UUID),
        "pscustomobject": lambda v: isinstance(v, PSObject),
        "object": lambda v: v is not None,
        "array": lambda v: isinstance(v, list | tuple),
        "string[]": lambda v: isinstance(v, list | tuple),
        "int[]": lambda v: isinstance(v, list | tuple),
        "hashtable": lambda v: isinstance(v, Mapping),
    }
    check = checks.get(canonical)
    return bool(check and check(value))


def _lookup(mapping: Mapping[str, Any], name: str) -> Any:
    if name in mapping:
        return mapping[name]
    lowered = name.lower()
    for key, value in mapping.items():
        if str(key).lower() == lowered:
            return value
    return None


def get_member(value: Any, name: str) -> Any:
    """``$value.Name`` including member enumeration over arrays (PowerShell 3+)."""
    lowered = name.lower()
    if isinstance(value, list | tuple):
        if lowered in ("count", "length"):
            return len(value)
        results: list[Any] = []
        for item in value:
            member = get_member(item, name)
            if isinstance(member, list | tuple):
                results.extend(member)
            elif member is not None:
                results.append(member)
        if not results:
            return None
        return results[0] if len(results) == 1 else results
    if value is None:
        return None
    if isinstance(value, PSObject):
        return value.ps_get(name)
    if isinstance(value, Mapping):
        return _lookup(value, name)
    if isinstance(value, timedelta):
        return _lookup(timespan_properties(value), name)
    if isinstance(value, str) and lowered == "length":
        return len(value)
    if isinstance(value, enum.Enum) and lowered == "value__":
        return value.value
    return None


def format_output(values: list[Any]) -> str:
    """How powershell.exe prints leftover pipeline objects (strings as-is; objects as a list view)."""
    lines: list[str] = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, PSObject) and not isinstance(value, ErrorRecordValue):
            props = value.ps_properties()
            width = max((len(k) for k in props), default=0)
            lines.append("")
            lines.extend(f"{k.ljust(width)} : {to_string(v)}" for k, v in props.items())
            lines.append("")
        else:
            lines.append(to_string(value))
    return "".join(line + "\r\n" for line in lines)


def unroll(value: Any) -> list[Any]:
    """The objects a value writes to the pipeline: arrays are enumerated, anything else is one object."""
    if isinstance(value, list | tuple):
        return list(value)
    return [value]
