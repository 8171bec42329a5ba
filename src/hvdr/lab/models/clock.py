"""The lab's clock: simulated UTC time running at ``speed`` times real time.

At speed 300 a 5-minute replication cycle takes one real second; at speed 0 the clock stands still and only
:meth:`LabClock.advance` moves it (deterministic tests). Times are kept as float seconds since the Unix
epoch inside the models and become timezone-aware UTC datetimes at the cmdlet edge.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


def to_datetime(ts: float) -> datetime:
    """Epoch seconds → timezone-aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


def to_timestamp(value: datetime) -> float:
    """A datetime (naive means UTC) → epoch seconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class LabClock:
    """Simulated time with a speed factor; thread-safe."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._base_sim = to_timestamp(start) if start else time.time()
        self._base_real = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def time(self) -> float:
        """Simulated epoch seconds now."""
        with self._lock:
            return self._base_sim + (time.monotonic() - self._base_real) * self._speed

    def now(self) -> datetime:
        return to_datetime(self.time())

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on (0 freezes the clock)."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        with self._lock:
            real = time.monotonic()
            self._base_sim += (real - self._base_real) * self._speed
            self._base_real = real
            self._speed = float(speed)

    def advance(self, seconds: float | timedelta) -> None:
        """Jump simulated time forward."""
        delta = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
        if delta < 0:
            raise ValueError("the lab's clock only moves forward")
        with self._lock:
            self._base_sim += delta

    def real_seconds(self, sim_seconds: float) -> float:
        """How long ``sim_seconds`` of simulated time take in real time (infinite when frozen)."""
        return float("inf") if self._speed == 0 else sim_seconds / self._speed
