"""Hyper-V Replica's own words for a VM's replication, shared by the driver, protection runs and the API.

The driver (``hvdr.hyperv.models``) re-exports these names; protection state, status rows and history
samples use them too, so a state is one enum everywhere rather than a bare string in three places.
Host names are compared by :func:`hvdr.topology.same_host`, the one rule for that.
"""

from __future__ import annotations

from enum import StrEnum


class ReplicationState(StrEnum):
    """``Microsoft.HyperV.PowerShell.VMReplicationState`` (Hyper-V module 2.0)."""

    DISABLED = "Disabled"
    READY_FOR_INITIAL_REPLICATION = "ReadyForInitialReplication"
    INITIAL_REPLICATION_IN_PROGRESS = "InitialReplicationInProgress"
    WAITING_FOR_INITIAL_REPLICATION = "WaitingForInitialReplication"
    REPLICATING = "Replicating"
    PREPARED_FOR_FAILOVER = "PreparedForFailover"
    FAILED_OVER_WAITING_COMPLETION = "FailedOverWaitingCompletion"
    FAILED_OVER = "FailedOver"
    SUSPENDED = "Suspended"
    ERROR = "Error"
    WAITING_FOR_START_RESYNCHRONIZE = "WaitingForStartResynchronize"
    RESYNCHRONIZING = "Resynchronizing"
    RESYNCHRONIZE_SUSPENDED = "ResynchronizeSuspended"
    RECOVERY_IN_PROGRESS = "RecoveryInProgress"
    FAILBACK_IN_PROGRESS = "FailbackInProgress"
    FAILBACK_COMPLETE = "FailbackComplete"
    WAITING_FOR_UPDATE_COMPLETION = "WaitingForUpdateCompletion"
    UPDATE_ERROR = "UpdateError"
    WAITING_FOR_REPURPOSE_COMPLETION = "WaitingForRepurposeCompletion"
    PREPARED_FOR_SYNC_REPLICATION = "PreparedForSyncReplication"
    PREPARED_FOR_GROUP_REVERSE_REPLICATION = "PreparedForGroupReverseReplication"
    FIREDRILL_IN_PROGRESS = "FiredrillInProgress"


class ReplicationHealth(StrEnum):
    NOT_APPLICABLE = "NotApplicable"
    NORMAL = "Normal"
    WARNING = "Warning"
    CRITICAL = "Critical"
