"""PowerShell value semantics over the seam's plain Python values: casts, member access, ToString."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
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


def to_string(value: Any) -> str:
    """``[string]$value``: invariant culture, as PowerShell casts."""
    if value is None:
        return ""
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


CASTS = {
    "string": to_string,
    "int": to_int,
    "datetime": to_datetime,
    "guid": to_guid,
    "pscustomobject": to_pscustomobject,
}


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


def unroll(value: Any) -> list[Any]:
    """The objects a value writes to the pipeline: arrays are enumerated, anything else is one object."""
    if isinstance(value, list | tuple):
        return list(value)
    return [value]
