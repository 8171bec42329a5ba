"""Durations as operators write them on the command line: ``90s``, ``30m``, ``1h30m``, ``3d`` or bare seconds."""

from __future__ import annotations

import math
import re

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str, option: str) -> float:
    """Seconds of ``text``; ValueError naming ``option`` and the format when it is not a duration of 0 or more."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ValueError(f"{option} {text!r} is not a duration: write e.g. 90s, 30m, 1h30m, 8h or 3d") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{option} {text!r} must be a finite duration of 0 or more")
    return seconds
