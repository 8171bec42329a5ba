"""The shared vocabulary: run requests and results that cross Temporal and the public API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class PingRequest(BaseModel):
    """Ask a site's worker to answer, proving CLI → Temporal → worker → activity."""

    site: str = Field(min_length=1)


class PingReply(BaseModel):
    """What the site's activity reports about where it ran."""

    site: str
    worker_identity: str
    worker_host: str
    task_queue: str
    answered_at: datetime


class PingResult(BaseModel):
    """A completed ping: where it ran and how long each leg took."""

    site: str
    workflow_id: str
    run_id: str
    reply: PingReply
    started_at: datetime
    activity_latency_ms: float = Field(description="from the run starting to the site's activity answering")
    round_trip_ms: float = Field(description="from the client starting the run to receiving its result")
