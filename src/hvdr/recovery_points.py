"""Recovery points of a replica and the operator's choice of one (``--point``), for unplanned and test failover.

``--point`` is ``latest`` (the replica's latest state), ``latest-app-consistent``, a time (the newest point at or
before it; UTC unless it says otherwise) or a point's id as ``hvdr recovery-points`` lists them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from hvdr.payloads import Durable

LATEST = "latest"
LATEST_APP_CONSISTENT = "latest-app-consistent"

PointType = Literal["application-consistent", "standard"]


class RecoveryPointInfo(Durable):
    """One recovery point of a replica. ``id`` "latest" is the replica's latest state (no snapshot)."""

    id: str
    time: datetime | None
    type: PointType
    name: str = ""


def parse_point(choice: str) -> str:
    """Validate a ``--point`` (latest, latest-app-consistent, an ISO time or a point id); the canonical text.

    Raises ValueError naming what is wrong."""
    text = choice.strip()
    if text.lower() in (LATEST, LATEST_APP_CONSISTENT):
        return text.lower()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--point {choice!r} is not latest, latest-app-consistent, a time (2026-12-02T01:00:00Z) or a "
            "recovery point id (`hvdr recovery-points --vm NAME` lists them)"
        ) from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def choose_point(points: Sequence[RecoveryPointInfo], choice: str) -> RecoveryPointInfo:
    """The point a (parsed) ``--point`` means; ValueError when there is none."""
    if not points:
        raise ValueError("the replica has no recovery point (it never received a replication)")
    if choice == LATEST:
        return points[-1]
    if choice == LATEST_APP_CONSISTENT:
        app = [p for p in points if p.type == "application-consistent"]
        if not app:
            raise ValueError("the replica has no application-consistent recovery point: choose --point latest")
        return app[-1]
    by_id = [p for p in points if p.id == choice]
    if by_id:
        return by_id[0]
    try:
        at = datetime.fromisoformat(choice)
    except ValueError:
        raise ValueError(f"no recovery point {choice}: `hvdr recovery-points` lists them") from None
    before = [p for p in points if p.time is not None and p.time <= at]
    if not before:
        oldest = points[0].time.isoformat() if points[0].time else "unknown"
        raise ValueError(f"no recovery point at or before {choice} (the oldest is {oldest})")
    return before[-1]
