"""hvdr: disaster-recovery orchestration for Hyper-V Replica on durable Temporal workflows.

The public Python API. ``hvdr.Client`` does everything the CLI does with Temporal and returns pydantic
models, resolving VMs by name from the inventory; ``hvdr.inventory`` holds the declared estate (apply, export,
discovery records, protection specs).
"""

from hvdr.client import Client
from hvdr.errors import ConfigError, Conflict, HvdrError, NotFound, TemporalUnavailable
from hvdr.failover import FailoverReport, FailoverSpec
from hvdr.models import DiscoveredSite, PingReply, PingResult
from hvdr.outcomes import CommandOutcome, ProtectionProgress, ProtectionRollout, ProtectionRun
from hvdr.protection import CommandResult, Phase, ProtectionSpec, ProtectionStatus
from hvdr.settings import Settings, load_settings
from hvdr.shutdown import run
from hvdr.testfailover import TestFailoverReport, TestFailoverSpec
from hvdr.unplanned import RecoveryPoints, ReverseReport, UnplannedReport, UnplannedSpec

__all__ = [
    "Client",
    "CommandOutcome",
    "CommandResult",
    "ConfigError",
    "Conflict",
    "DiscoveredSite",
    "FailoverReport",
    "FailoverSpec",
    "HvdrError",
    "NotFound",
    "Phase",
    "PingReply",
    "PingResult",
    "ProtectionProgress",
    "ProtectionRollout",
    "ProtectionRun",
    "ProtectionSpec",
    "ProtectionStatus",
    "RecoveryPoints",
    "ReverseReport",
    "Settings",
    "TemporalUnavailable",
    "TestFailoverReport",
    "TestFailoverSpec",
    "UnplannedReport",
    "UnplannedSpec",
    "load_settings",
    "run",
]
