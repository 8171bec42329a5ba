"""PowerShell's operators over the seam's values: comparisons (case-insensitive unless ``-c…``), arithmetic,
``-like``/``-match``/``-replace``/``-split``/``-join``, ``-is``/``-as`` and the logical operators.

A comparison converts the right operand to the left operand's type; an array on the left filters its items
(``@(1,2,3) -gt 1`` is ``@(2,3)``); ``-contains``/``-in`` test membership with ``-eq``'s rules.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from fnmatch import translate
from functools import lru_cache
from typing import Any

from hvdr.lab.powershell.values import (
    CASTS,
    TYPE_FULL_NAMES,
    CastError,
    is_instance,
    to_bool,
    to_datetime,
    to_number,
    to_string,
    type_name_of,
    unroll,
)
from hvdr.lab.seam import PSError


def _runtime(message: str, error_id: str, category: str = "InvalidOperation") -> PSError:
    return PSError(message, error_id=error_id, category=category)


@lru_cache(maxsize=256)
def wildcard(pattern: str, case_sensitive: bool = False) -> re.Pattern[str]:
    """A PowerShell wildcard (``*``, ``?``, ``[a-c]``; a backtick escapes) as a regex."""
    escaped = re.sub(
        r"`(.)", lambda m: "[" + m.group(1) + "]" if m.group(1) not in "[]" else "\\" + m.group(1), pattern
    )
    return re.compile(translate(escaped), 0 if case_sensitive else re.IGNORECASE)


_WILDCARD_CHARS = frozenset("*?[")


def has_wildcard(text: str) -> bool:
    return not _WILDCARD_CHARS.isdisjoint(text)


@lru_cache(maxsize=256)
def _regex(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    # .NET's named groups are (?<name>…); Python spells them (?P<name>…).
    python = re.sub(r"\(\?<(?![=!])", "(?P<", pattern)
    try:
        return re.compile(python, 0 if case_sensitive else re.IGNORECASE)
    except re.error as exc:
        raise _runtime(
            f"The regular expression pattern {pattern} is not valid.", "InvalidRegularExpression", "InvalidOperation"
        ) from exc


def _coerce(left: Any, right: Any) -> Any:
    """The right operand converted to the left operand's type, as a comparison does (None when impossible)."""
    if right is None or left is None:
        return right
    try:
        if isinstance(left, bool):
            return to_bool(right)
        if isinstance(left, enum.Enum):
            if isinstance(right, enum.Enum):
                return right
            if isinstance(right, str):
                lowered = right.strip().lower()
                for member in type(left):
                    if member.name.lower() == lowered:
                        return member
                return to_number(right)
            return to_number(right)
        if isinstance(left, int | float):
            return to_number(right)
        if isinstance(left, datetime):
            return to_datetime(right)
        if isinstance(left, uuid.UUID):
            return right if isinstance(right, uuid.UUID) else uuid.UUID(to_string(right))
    except (CastError, ValueError):
        return _NOT_CONVERTIBLE
    return right


_NOT_CONVERTIBLE = object()


def _text(value: Any, case_sensitive: bool) -> str:
    text = to_string(value)
    return text if case_sensitive else text.lower()


def equals(left: Any, right: Any, case_sensitive: bool = False) -> bool:
    if left is None or right is None:
        return left is None and right is None
    right = _coerce(left, right)
    if right is _NOT_CONVERTIBLE:
        return False
    if isinstance(left, str | uuid.UUID):
        return _text(left, case_sensitive) == _text(right, case_sensitive)
    if isinstance(left, enum.Enum) or isinstance(right, enum.Enum):
        return bool(_as_number(left) == _as_number(right))
    if isinstance(left, PSError):
        return False
    return bool(left == right)


def _as_number(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def compare(left: Any, right: Any, case_sensitive: bool = False) -> int:
    """-1, 0 or 1 as PowerShell orders the two (``-gt``, ``-lt`` …, Sort-Object)."""
    if left is None and right is None:
        return 0
    if left is None:
        return -1 if to_string(right) else 0
    if right is None:
        return 1 if to_string(left) else 0
    converted = _coerce(left, right)
    if converted is _NOT_CONVERTIBLE:
        raise _runtime(
            f'Cannot compare "{to_string(left)}" to "{to_string(right)}" because the objects are not the same type '
            'or the object "' + to_string(left) + '" does not implement "IComparable".',
            "ComparisonFailure",
        )
    a, b = _as_number(left), _as_number(converted)
    if isinstance(a, str) or (
        not isinstance(b, type(a)) and not (isinstance(a, int | float) and isinstance(b, int | float))
    ):
        a, b = _text(left, case_sensitive), _text(converted, case_sensitive)
    try:
        return int(a > b) - int(a < b)
    except TypeError:
        raise _runtime(f'Cannot compare "{to_string(left)}" because it is not IComparable.', "NotIcomparable") from None


def _like(left: Any, right: Any, case_sensitive: bool) -> bool:
    return wildcard(to_string(right), case_sensitive).match(to_string(left)) is not None


def _scalar_op(op: str, case_sensitive: bool, matches: dict[str, Any] | None) -> Callable[[Any, Any], bool]:
    if op == "eq":
        return lambda a, b: equals(a, b, case_sensitive)
    if op == "ne":
        return lambda a, b: not equals(a, b, case_sensitive)
    if op == "gt":
        return lambda a, b: compare(a, b, case_sensitive) > 0
    if op == "ge":
        return lambda a, b: compare(a, b, case_sensitive) >= 0
    if op == "lt":
        return lambda a, b: compare(a, b, case_sensitive) < 0
    if op == "le":
        return lambda a, b: compare(a, b, case_sensitive) <= 0
    if op == "like":
        return lambda a, b: _like(a, b, case_sensitive)
    if op == "notlike":
        return lambda a, b: not _like(a, b, case_sensitive)

    def match(a: Any, b: Any) -> bool:
        found = _regex(to_string(b), case_sensitive).search(to_string(a))
        if found and matches is not None:
            matches.clear()
            matches.update({str(i): g for i, g in enumerate([found.group(0), *found.groups()]) if g is not None})
            matches.update({k: v for k, v in found.groupdict().items() if v is not None})
        return found is not None

    if op == "match":
        return match
    return lambda a, b: not match(a, b)


def _split_case(op: str) -> tuple[str, bool]:
    if op[0] == "c" and op not in ("contains",):
        return op[1:], True
    if op[0] == "i" and op not in ("in", "is", "isnot"):
        return op[1:], False
    return op, False


def comparison(op: str, left: Any, right: Any, matches: dict[str, Any] | None = None) -> Any:
    """``left -op right`` for the comparison-level operators (``matches`` receives ``$Matches``)."""
    if op in ("is", "isnot"):
        canonical = right if isinstance(right, str) else ""
        result = is_instance(left, canonical)
        return result if op == "is" else not result
    if op == "as":
        try:
            return CASTS[right](left) if isinstance(right, str) and right in CASTS else None
        except (PSError, ValueError):
            return None
    if op == "join":
        return to_string(right).join(to_string(v) for v in unroll(left))
    base, case_sensitive = _split_case(op)
    if base in ("contains", "notcontains"):
        found = any(equals(item, right, case_sensitive) for item in unroll(left))
        return found if base == "contains" else not found
    if base in ("in", "notin"):
        found = any(equals(item, left, case_sensitive) for item in unroll(right))
        return found if base == "in" else not found
    if base == "replace":
        pattern, replacement = [*right, ""][:2] if isinstance(right, list) else (right, "")
        regex = _regex(to_string(pattern), case_sensitive)
        template = re.sub(
            r"\$(\d+)|\$\{(\w+)\}",
            lambda m: "\\g<" + (m.group(1) or m.group(2)) + ">",
            to_string(replacement).replace("\\", "\\\\"),
        )
        results = [regex.sub(template, to_string(item)) for item in unroll(left)]
        return results if isinstance(left, list) else results[0]
    if base == "split":
        regex = _regex(to_string(right), case_sensitive)
        parts: list[Any] = []
        for item in unroll(left):
            parts.extend(regex.split(to_string(item)))
        return parts
    test = _scalar_op(base, case_sensitive, matches)
    if isinstance(left, list | tuple):
        return [item for item in left if test(item, right)]
    return test(left, right)


def _add(left: Any, right: Any) -> Any:
    if left is None:
        return right
    if isinstance(left, list | tuple):
        return [*left, *unroll(right)]
    if isinstance(left, str):
        return left + to_string(right)
    if isinstance(left, Mapping):
        if not isinstance(right, Mapping):
            raise _runtime("A hash table can only be added to another hash table.", "AddHashTableToNonHashTable")
        merged = dict(left)
        for key, value in right.items():
            if any(str(k).lower() == str(key).lower() for k in merged):
                raise _runtime(
                    f"Item has already been added. Key in dictionary: '{key}'  Key being added: '{key}'",
                    "DuplicateKeyInHashLiteral",
                )
            merged[key] = value
        return merged
    if isinstance(left, datetime) and isinstance(right, timedelta):
        return left + right
    if isinstance(left, timedelta) and isinstance(right, timedelta):
        return left + right
    return _numeric("+", left, right)


def _numeric(op: str, left: Any, right: Any) -> Any:
    if isinstance(left, PSError):
        raise left
    try:
        a, b = to_number(left), to_number(right)
    except CastError:
        raise _runtime(
            f"Method invocation failed because [{type_name_of(left)}] does not contain a method named "
            f"'op_{ {'+': 'Addition', '-': 'Subtraction', '*': 'Multiply', '/': 'Division', '%': 'Modulus'}[op] }'.",
            "MethodNotFound",
        ) from None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise _runtime("Attempted to divide by zero.", "RuntimeException", "NotSpecified")
    if op == "/":
        quotient = a / b
        return int(quotient) if isinstance(a, int) and isinstance(b, int) and a % b == 0 else quotient
    return a % b if isinstance(a, int) and isinstance(b, int) else a - b * int(a / b)


def arithmetic(op: str, left: Any, right: Any) -> Any:
    """``+ - * / %`` with PowerShell's rules (strings concatenate, arrays append, ``'ab' * 2``)."""
    if op == "+":
        return _add(left, right)
    if op == "*" and isinstance(left, str):
        return left * int(to_number(right))
    if op == "*" and isinstance(left, list | tuple):
        return list(left) * int(to_number(right))
    if op == "-" and isinstance(left, datetime):
        return left - (right if isinstance(right, timedelta) else to_datetime(right))
    return _numeric(op, left, right)


def format_operator(template: Any, arguments: Any) -> str:
    """``'{0} is {1:N1}' -f a, b`` for the common format items ({index}, alignment ignored, N/D/F)."""
    values = unroll(arguments)

    def item(match: re.Match[str]) -> str:
        index = int(match.group(1))
        spec = match.group(3) or ""
        if index >= len(values):
            raise _runtime(
                "Error formatting a string: Index (zero based) must be greater than or equal to zero and less than the "
                "size of the argument list..",
                "FormatError",
            )
        value = values[index]
        kind, digits = spec[:1].upper(), spec[1:]
        if kind in ("N", "F") and isinstance(value, int | float):
            return f"{value:,.{int(digits or 2)}f}" if kind == "N" else f"{value:.{int(digits or 2)}f}"
        if kind == "D" and isinstance(value, int):
            return str(value).zfill(int(digits or 0))
        return to_string(value)

    text = to_string(template).replace("{{", "\0").replace("}}", "\1")
    return re.sub(r"\{(\d+)(,-?\d+)?(?::([^}]*))?\}", item, text).replace("\0", "{").replace("\1", "}")


def range_operator(left: Any, right: Any) -> list[int]:
    start, end = int(to_number(left)), int(to_number(right))
    step = 1 if end >= start else -1
    return list(range(start, end + step, step))


__all__ = [
    "TYPE_FULL_NAMES",
    "arithmetic",
    "compare",
    "comparison",
    "equals",
    "format_operator",
    "has_wildcard",
    "range_operator",
    "wildcard",
]
