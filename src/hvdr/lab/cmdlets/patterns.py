"""PowerShell's ``-like`` wildcard matching for name filters."""

from __future__ import annotations

import fnmatch


def matches(value: str, patterns: list[str] | None) -> bool:
    """True when no filter is given or any pattern matches (case-insensitive, ``*``/``?``/``[…]``)."""
    if not patterns:
        return True
    lowered = value.lower()
    return any(fnmatch.fnmatchcase(lowered, p.lower()) for p in patterns)
