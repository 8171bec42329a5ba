"""hvdr: disaster-recovery orchestration for Hyper-V Replica on durable Temporal workflows.

The public Python API. ``hvdr.Client`` does everything the CLI does and returns pydantic models.
"""

from hvdr.client import Client
from hvdr.errors import ConfigError, Conflict, HvdrError, NotFound, TemporalUnavailable
from hvdr.models import PingReply, PingResult
from hvdr.settings import Settings, load_settings

__all__ = [
    "Client",
    "ConfigError",
    "Conflict",
    "HvdrError",
    "NotFound",
    "PingReply",
    "PingResult",
    "Settings",
    "TemporalUnavailable",
    "load_settings",
]
