"""Hyper-V's PowerShell enums with their exact names and integers (reference §2, Hyper-V module 2.0.0.0).

``[string]`` of a member gives its name and ``ConvertTo-Json`` on Windows PowerShell 5.1 gives its integer;
the wire does both from these classes, so the names and values here are a contract.
"""

from __future__ import annotations

import enum
from typing import TypeVar

E = TypeVar("E", bound=enum.IntEnum)


class VMState(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.VMState."""

    Other = 1
    Running = 2
    Off = 3
    Stopping = 4
    Saved = 6
    Paused = 9
    Starting = 10
    Reset = 11
    Saving = 32773
    Pausing = 32776
    Resuming = 32777
    FastSaved = 32779
    FastSaving = 32780
    ForceShutdown = 32781
    ForceReboot = 32782
    Hibernated = 32783
    ComponentServicing = 32784
    RunningCritical = 32785
    OffCritical = 32786
    StoppingCritical = 32787
    SavedCritical = 32788
    PausedCritical = 32789
    StartingCritical = 32790
    ResetCritical = 32791
    SavingCritical = 32792
    PausingCritical = 32793
    ResumingCritical = 32794
    FastSavedCritical = 32795
    FastSavingCritical = 32796


class VMReplicationState(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.VMReplicationState (module 2.0.0.0; 1.1 used other integers)."""

    Disabled = 0
    ReadyForInitialReplication = 1
    InitialReplicationInProgress = 2
    WaitingForInitialReplication = 3
    Replicating = 4
    PreparedForFailover = 5
    FailedOverWaitingCompletion = 6
    FailedOver = 7
    Suspended = 8
    Error = 9
    WaitingForStartResynchronize = 10
    Resynchronizing = 11
    ResynchronizeSuspended = 12
    RecoveryInProgress = 13
    FailbackInProgress = 14
    FailbackComplete = 15
    WaitingForUpdateCompletion = 16
    UpdateError = 17
    WaitingForRepurposeCompletion = 18
    PreparedForSyncReplication = 19
    PreparedForGroupReverseReplication = 20
    FiredrillInProgress = 21


class VMReplicationMode(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.VMReplicationMode."""

    None_ = 0
    Primary = 1
    Replica = 2
    TestReplica = 3
    ExtendedReplica = 4


def _rename_none(cls: type[enum.IntEnum]) -> None:
    # ``None`` is a Python keyword, so the member is declared as ``None_``; PowerShell's name is "None".
    member = cls.__members__["None_"]
    member._name_ = "None"
    cls._member_map_ = {("None" if k == "None_" else k): v for k, v in cls._member_map_.items()}
    cls._member_names_ = ["None" if k == "None_" else k for k in cls._member_names_]


_rename_none(VMReplicationMode)


class VMReplicationHealthState(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.VMReplicationHealthState."""

    NotApplicable = 0
    Normal = 1
    Warning = 2
    Critical = 3


class VMReplicationRelationshipType(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.VMReplicationRelationshipType."""

    Simple = 0
    Extended = 1


class VMReplicationType(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.VMReplicationType (LastReplicationType, FailedOverReplicationType)."""

    None_ = 0
    Regular = 1
    ApplicationConsistent = 2
    Planned = 3


_rename_none(VMReplicationType)


class ReplicationAuthenticationType(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.ReplicationAuthenticationType (per VM)."""

    Kerberos = 1
    Certificate = 2


class RecoveryAuthenticationType(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.RecoveryAuthenticationType (what a Replica server accepts)."""

    Kerberos = 1
    Certificate = 2
    CertificateAndKerberos = 3


class SnapshotType(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.SnapshotType."""

    Standard = 0
    Recovery = 1
    Planned = 2
    Missing = 5
    Replica = 6
    AppConsistentReplica = 7
    SyncedReplica = 8


class VMIntegrationComponentOperationalStatus(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.VMIntegrationComponentOperationalStatus."""

    Ok = 2
    Degraded = 3
    Error = 6
    NonRecoverableError = 7
    NoContact = 12
    LostCommunication = 13
    ProtocolMismatch = 32775
    ApplicationCritical = 32782
    CommunicationTimedOut = 32783
    CommunicationFailed = 32784
    Disabled = 32896


class VMHeartbeatStatus(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.VMHeartbeatStatus (Get-VM's Heartbeat)."""

    Unknown = 0
    Disabled = 1
    NoContact = 2
    Error = 3
    LostCommunication = 4
    OkApplicationsUnknown = 5
    OkApplicationsHealthy = 6
    OkApplicationsCritical = 7
    Paused = 8


class VMReplicationServerOperationalStatus(enum.IntEnum):
    """Microsoft.HyperV.PowerShell.VMReplicationServerOperationalStatus."""

    Unknown = 0
    Other = 1
    Ok = 2
    Degraded = 3
    Stressed = 4
    PredictiveFailure = 5
    Error = 6
    NonRecoverableError = 7
    Starting = 8
    Stopping = 9
    Stopped = 10
    InService = 11
    NoContact = 12
    LostCommunication = 13
    Aborted = 14
    Dormant = 15
    SupportingEntityInError = 16
    Completed = 17
    PowerMode = 18


def parse_enum(cls: type[E], value: object) -> E:
    """A member from a member, its name (case-insensitive, as PowerShell converts strings) or its integer."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        for name, member in cls.__members__.items():
            if name.lower() == lowered:
                return member
        if lowered.lstrip("-").isdigit():
            return cls(int(lowered))
        raise ValueError(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return cls(value)
    raise ValueError(value)
