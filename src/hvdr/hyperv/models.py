"""Typed results and inputs of the host driver.

Hyper-V enums are ``StrEnum`` s of their NAMES: Windows PowerShell 5.1 serialises enums as integers and
the integers changed between Hyper-V module versions, so every script casts them with ``[string]``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class VMState(StrEnum):
    OTHER = "Other"
    RUNNING = "Running"
    OFF = "Off"
    STOPPING = "Stopping"
    SAVED = "Saved"
    PAUSED = "Paused"
    STARTING = "Starting"
    RESET = "Reset"
    SAVING = "Saving"
    PAUSING = "Pausing"
    RESUMING = "Resuming"
    FAST_SAVED = "FastSaved"
    FAST_SAVING = "FastSaving"
    FORCE_SHUTDOWN = "ForceShutdown"
    FORCE_REBOOT = "ForceReboot"
    HIBERNATED = "Hibernated"
    COMPONENT_SERVICING = "ComponentServicing"
    RUNNING_CRITICAL = "RunningCritical"
    OFF_CRITICAL = "OffCritical"
    STOPPING_CRITICAL = "StoppingCritical"
    SAVED_CRITICAL = "SavedCritical"
    PAUSED_CRITICAL = "PausedCritical"
    STARTING_CRITICAL = "StartingCritical"
    RESET_CRITICAL = "ResetCritical"
    SAVING_CRITICAL = "SavingCritical"
    PAUSING_CRITICAL = "PausingCritical"
    RESUMING_CRITICAL = "ResumingCritical"
    FAST_SAVED_CRITICAL = "FastSavedCritical"
    FAST_SAVING_CRITICAL = "FastSavingCritical"


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


class ReplicationMode(StrEnum):
    NONE = "None"
    PRIMARY = "Primary"
    REPLICA = "Replica"
    TEST_REPLICA = "TestReplica"
    EXTENDED_REPLICA = "ExtendedReplica"


class ReplicationHealth(StrEnum):
    NOT_APPLICABLE = "NotApplicable"
    NORMAL = "Normal"
    WARNING = "Warning"
    CRITICAL = "Critical"


class ReplicationRelationshipType(StrEnum):
    SIMPLE = "Simple"
    EXTENDED = "Extended"


class ReplicationType(StrEnum):
    NONE = "None"
    REGULAR = "Regular"
    APPLICATION_CONSISTENT = "ApplicationConsistent"
    PLANNED = "Planned"


class AuthenticationType(StrEnum):
    """Per-VM ``ReplicationAuthenticationType``."""

    KERBEROS = "Kerberos"
    CERTIFICATE = "Certificate"


class ServerAuthenticationType(StrEnum):
    """The replica server's ``RecoveryAuthenticationType``."""

    KERBEROS = "Kerberos"
    CERTIFICATE = "Certificate"
    CERTIFICATE_AND_KERBEROS = "CertificateAndKerberos"


class SnapshotType(StrEnum):
    STANDARD = "Standard"
    RECOVERY = "Recovery"
    PLANNED = "Planned"
    MISSING = "Missing"
    REPLICA = "Replica"
    APP_CONSISTENT_REPLICA = "AppConsistentReplica"
    SYNCED_REPLICA = "SyncedReplica"


RECOVERY_POINT_TYPES = frozenset(
    {SnapshotType.REPLICA, SnapshotType.APP_CONSISTENT_REPLICA, SnapshotType.SYNCED_REPLICA}
)


class StopMode(StrEnum):
    """How Stop-VM stops: guest shutdown, shutdown without waiting for applications, or power off."""

    SHUTDOWN = "shutdown"
    FORCE = "force"
    TURN_OFF = "turn_off"


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class NetworkAdapter(_Result):
    name: str
    vm_name: str
    switch_name: str | None = None
    mac_address: str | None = None
    ip_addresses: list[str] = Field(default_factory=list)
    connected: bool = False
    test_replica_switch_name: str | None = Field(
        default=None, description="TestReplicaSwitchName: where a test failover's copy of it connects"
    )


class VMInfo(_Result):
    """``Get-VM``'s VirtualMachine, the fields workflows use."""

    name: str
    id: uuid.UUID
    host: str = Field(description="ComputerName: the host the VM is on")
    state: VMState
    status: str | None = None
    uptime_seconds: int = 0
    replication_state: ReplicationState = ReplicationState.DISABLED
    replication_health: ReplicationHealth = ReplicationHealth.NOT_APPLICABLE
    replication_mode: ReplicationMode = ReplicationMode.NONE
    heartbeat: str | None = None
    processor_count: int = 0
    memory_startup_bytes: int = 0
    generation: int = 0
    path: str | None = None
    network_adapters: list[NetworkAdapter] = Field(default_factory=list)
    hard_drive_paths: list[str] = Field(default_factory=list)


class ReplicationInfo(_Result):
    """``Get-VMReplication``'s VMReplication."""

    vm_name: str
    vm_id: uuid.UUID
    state: ReplicationState
    health: ReplicationHealth
    mode: ReplicationMode
    relationship_type: ReplicationRelationshipType = ReplicationRelationshipType.SIMPLE
    primary_server: str | None = None
    replica_server: str | None = None
    current_replica_server: str | None = None
    replica_port: int | None = None
    authentication_type: AuthenticationType | None = None
    frequency_sec: int | None = None
    recovery_history: int = 0
    vss_snapshot_frequency_hour: int = 0
    compression_enabled: bool = True
    auto_resynchronize_enabled: bool = False
    last_replication_time: datetime | None = None
    test_vm_name: str | None = None


class ReplicationHealthReport(_Result):
    """``Measure-VMReplication``'s VMReplicationHealth for one VM."""

    vm_name: str
    state: ReplicationState
    health: ReplicationHealth
    mode: ReplicationMode
    last_replication_time: datetime | None = None
    last_replication_type: ReplicationType | None = None
    pending_replication_bytes: int = 0
    initial_replication_bytes: int = 0
    """InitialReplicationSize: the size of the initial copy (progress = 1 - pending / initial)."""
    average_replication_bytes: int = 0
    average_latency_seconds: float | None = None
    successful_replication_count: int = 0
    missed_replication_count: int = 0
    replication_errors: int = 0
    health_details: list[str] = Field(default_factory=list)


class ReplicationServerInfo(_Result):
    """``Get-VMReplicationServer``."""

    replication_enabled: bool
    allowed_authentication_type: ServerAuthenticationType | None = None
    replication_allowed_from_any_server: bool = False
    default_storage_location: str | None = None
    kerberos_port: int | None = None
    certificate_port: int | None = None
    certificate_thumbprint: str | None = None


class DriveSpace(_Result):
    """``Get-PSDrive``: a file-system drive's use, e.g. the volume holding replica storage."""

    name: str
    used_bytes: int
    free_bytes: int


class ConnectionTestResult(_Result):
    succeeded: bool
    message: str


class RecoveryPoint(_Result):
    """A replica VM's recovery point (a VMSnapshot of a replica type)."""

    id: uuid.UUID
    name: str
    vm_name: str
    snapshot_type: SnapshotType
    creation_time: datetime | None = None


class FailoverResult(_Result):
    replication: ReplicationInfo
    test_vm_name: str | None = None


class Heartbeat(_Result):
    """The VM's Heartbeat integration service and its status."""

    vm_name: str
    enabled: bool
    status: str | None = Field(default=None, description="VirtualMachine.Heartbeat, e.g. OkApplicationsHealthy")
    primary_status: str | None = Field(default=None, description="PrimaryOperationalStatus, e.g. Ok, NoContact")
    description: str | None = None

    @property
    def healthy(self) -> bool:
        return self.enabled and (self.status or "").startswith("Ok")


class ScriptResult(_Result):
    stdout: str
    exit_code: int
    duration_seconds: float


# -- inputs -----------------------------------------------------------------------------------------


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReplicaServerSettings(_Input):
    """What ``Set-VMReplicationServer`` makes of a host so it can receive replication."""

    authentication_type: ServerAuthenticationType = ServerAuthenticationType.KERBEROS
    allow_any_server: bool = True
    default_storage_location: str | None = None
    kerberos_port: int = 80
    certificate_port: int | None = None
    certificate_thumbprint: str | None = None


class ReplicationSettings(_Input):
    """``Enable-VMReplication`` from a replication policy."""

    replica_server: str
    replica_port: int = 80
    authentication_type: AuthenticationType = AuthenticationType.KERBEROS
    certificate_thumbprint: str | None = None
    frequency_sec: int = 300
    recovery_history: int = 0
    vss_snapshot_frequency_hour: int | None = None
    compression_enabled: bool = True
    auto_resynchronize_enabled: bool = False
    excluded_vhd_paths: list[str] = Field(default_factory=list)


class ReplicationUpdate(_Input):
    """``Set-VMReplication`` settings; only the fields given are changed."""

    replica_server: str | None = None
    replica_port: int | None = None
    authentication_type: AuthenticationType | None = None
    certificate_thumbprint: str | None = None
    frequency_sec: int | None = None
    recovery_history: int | None = None
    vss_snapshot_frequency_hour: int | None = None
    compression_enabled: bool | None = None
    auto_resynchronize_enabled: bool | None = None


class FailoverIPConfig(_Input):
    """``Set-VMNetworkAdapterFailoverConfiguration``: the address the VM takes after failover."""

    ipv4_address: str | None = None
    ipv4_subnet_mask: str | None = None
    ipv4_default_gateway: str | None = None
    ipv4_preferred_dns: str | None = None
    ipv4_alternate_dns: str | None = None
    ipv6_address: str | None = None
    ipv6_prefix_length: int | None = Field(default=None, ge=0, le=128)
    ipv6_default_gateway: str | None = None
    ipv6_preferred_dns: str | None = None
    ipv6_alternate_dns: str | None = None


class FailoverIPSetting(_Result):
    """``Get-VMNetworkAdapterFailoverConfiguration``: one adapter's failover IP configuration."""

    vm_name: str
    adapter_name: str
    config: FailoverIPConfig


class InitialReplicationMethod(StrEnum):
    NETWORK = "network"
    SCHEDULED = "scheduled"
    EXPORT = "export"


# -- VMM ----------------------------------------------------------------------------------------------


class VMMCloud(_Result):
    name: str
    id: uuid.UUID
    host_group_paths: list[str] = Field(default_factory=list)


class VMMHost(_Result):
    name: str = Field(description="FQDN")
    computer_name: str
    host_group_path: str | None = None
    overall_state: str | None = None


class VMMVirtualMachine(_Result):
    name: str
    id: uuid.UUID
    vm_id: uuid.UUID
    host_name: str | None = None
    status: str | None = None
    cloud_name: str | None = None
