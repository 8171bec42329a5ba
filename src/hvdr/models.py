"""The shared vocabulary: run requests and results that cross Temporal and the public API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from hvdr.replication import ReplicationState


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


class DiscoveredVM(BaseModel):
    """A VM as a site's VMM server (or its Hyper-V hosts) report it."""

    name: str
    host: str
    vm_id: str | None = None
    power_state: str | None = None
    replication_mode: str | None = None
    replication_state: ReplicationState | None = None
    cloud: str | None = None


class DiscoveredHost(BaseModel):
    name: str
    cloud: str | None = None


class DiscoveredSite(BaseModel):
    """What one site's worker found, and from where."""

    site: str
    source: str = Field(description="the VMM server's name, or 'hosts' when the site has no VMM")
    hosts: list[DiscoveredHost] = Field(default_factory=list)
    vms: list[DiscoveredVM] = Field(default_factory=list)
    clouds: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class DiscoveryRequest(BaseModel):
    sites: list[str]


class RunSummary(BaseModel):
    """One hvdr run as Temporal's visibility lists it (``hvdr runs``)."""

    workflow_id: str
    kind: str | None = None
    vm: str | None = None
    site: str | None = None
    phase: str | None = None
    status: str
    started_at: datetime | None = None
    closed_at: datetime | None = None
