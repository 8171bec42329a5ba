"""hvdr: disaster-recovery orchestration for Hyper-V Replica on durable Temporal workflows.

The public Python API. ``hvdr.Client`` does everything the CLI does with Temporal and returns pydantic
models, resolving VMs by name from the inventory; ``hvdr.inventory`` holds the declared estate (apply, export,
discovery records, protection specs).
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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

# The names load on first use (PEP 562): `import hvdr.settings` (every CLI command, every workflow sandbox) then
# costs that module, not the whole client and every feature's models (≈ 0.3 s of each command's start-up).
_HOMES = {
    "Client": "hvdr.client",
    "ConfigError": "hvdr.errors",
    "Conflict": "hvdr.errors",
    "HvdrError": "hvdr.errors",
    "NotFound": "hvdr.errors",
    "TemporalUnavailable": "hvdr.errors",
    "FailoverReport": "hvdr.failover",
    "FailoverSpec": "hvdr.failover",
    "DiscoveredSite": "hvdr.models",
    "PingReply": "hvdr.models",
    "PingResult": "hvdr.models",
    "CommandOutcome": "hvdr.outcomes",
    "ProtectionProgress": "hvdr.outcomes",
    "ProtectionRollout": "hvdr.outcomes",
    "ProtectionRun": "hvdr.outcomes",
    "CommandResult": "hvdr.protection",
    "Phase": "hvdr.protection",
    "ProtectionSpec": "hvdr.protection",
    "ProtectionStatus": "hvdr.protection",
    "Settings": "hvdr.settings",
    "load_settings": "hvdr.settings",
    "run": "hvdr.shutdown",
    "TestFailoverReport": "hvdr.testfailover",
    "TestFailoverSpec": "hvdr.testfailover",
    "RecoveryPoints": "hvdr.unplanned",
    "ReverseReport": "hvdr.unplanned",
    "UnplannedReport": "hvdr.unplanned",
    "UnplannedSpec": "hvdr.unplanned",
}

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


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'hvdr' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(k for k, v in globals().items() if type(v).__name__ == "module" and k[0] != "_")})
