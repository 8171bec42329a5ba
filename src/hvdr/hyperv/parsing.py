"""Turn ``ConvertTo-Json`` output (Windows PowerShell 5.1) into the driver's models."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from hvdr.hyperv.errors import ScriptFailed
from hvdr.hyperv.models import (
    AuthenticationType,
    ConnectionTestResult,
    DriveSpace,
    FailoverIPConfig,
    FailoverIPSetting,
    Heartbeat,
    NetworkAdapter,
    RecoveryPoint,
    ReplicationHealth,
    ReplicationHealthReport,
    ReplicationInfo,
    ReplicationMode,
    ReplicationRelationshipType,
    ReplicationServerInfo,
    ReplicationState,
    ReplicationType,
    ServerAuthenticationType,
    SnapshotType,
    VMInfo,
    VMMCloud,
    VMMHost,
    VMMVirtualMachine,
    VMState,
)

_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
E = TypeVar("E", bound=StrEnum)


def objects(stdout: str, *, host: str | None = None) -> list[dict[str, Any]]:
    """The objects of ``ConvertTo-Json -InputObject @(...)``: an array, or one object, or nothing."""
    text = stdout.strip()
    if not text:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScriptFailed(
            f"the host's output is not JSON ({exc.msg} at {exc.pos}): {text[:200]!r}", host=host
        ) from None
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def ps_datetime(value: Any) -> datetime | None:
    """``"\\/Date(ms)\\/"`` (5.1) or an ISO string (PowerShell 7) → aware UTC datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        if match := _DATE.match(value):
            ms = int(match.group(1))
            return None if ms <= -62135596800000 else _EPOCH + timedelta(milliseconds=ms)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def timespan_seconds(value: Any) -> float | None:
    """A TimeSpan serialised as an object (``TotalSeconds``) or as ``hh:mm:ss`` text."""
    if isinstance(value, dict):
        total = value.get("TotalSeconds")
        return float(total) if isinstance(total, int | float) else None
    if isinstance(value, str) and value.count(":") == 2:
        hours, minutes, seconds = value.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return None


def as_list(value: Any) -> list[Any]:
    """A calculated property that may hold one value, an array, or nothing."""
    if value is None or value == "":
        return []
    return [v for v in value if v is not None] if isinstance(value, list) else [value]


def text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def enum(cls: type[E], value: Any, default: E | None = None) -> E | None:
    if value in (None, ""):
        return default
    try:
        return cls(str(value))
    except ValueError:
        raise ScriptFailed(f"unexpected {cls.__name__} {value!r} (was the enum cast to [string]?)") from None


def _req(cls: type[E], value: Any) -> E:
    result = enum(cls, value)
    if result is None:
        raise ScriptFailed(f"missing {cls.__name__} in the host's output")
    return result


def adapter(obj: dict[str, Any]) -> NetworkAdapter:
    return NetworkAdapter(
        name=str(obj.get("Name") or ""),
        vm_name=str(obj.get("VMName") or ""),
        switch_name=text(obj.get("SwitchName")),
        mac_address=text(obj.get("MacAddress")),
        ip_addresses=[str(ip) for ip in as_list(obj.get("IPAddresses"))],
        connected=bool(obj.get("Connected")),
        test_replica_switch_name=text(obj.get("TestReplicaSwitchName")),
    )


def failover_ip(obj: dict[str, Any]) -> FailoverIPSetting:
    prefix = obj.get("IPv6SubnetPrefixLength")
    return FailoverIPSetting(
        vm_name=str(obj.get("VMName") or ""),
        adapter_name=str(obj.get("VMNetworkAdapterName") or ""),
        config=FailoverIPConfig(
            ipv4_address=text(obj.get("IPv4Address")),
            ipv4_subnet_mask=text(obj.get("IPv4SubnetMask")),
            ipv4_default_gateway=text(obj.get("IPv4DefaultGateway")),
            ipv4_preferred_dns=text(obj.get("IPv4PreferredDNSServer")),
            ipv4_alternate_dns=text(obj.get("IPv4AlternateDNSServer")),
            ipv6_address=text(obj.get("IPv6Address")),
            ipv6_prefix_length=int(prefix) if prefix not in (None, "") else None,
            ipv6_default_gateway=text(obj.get("IPv6DefaultGateway")),
            ipv6_preferred_dns=text(obj.get("IPv6PreferredDNSServer")),
            ipv6_alternate_dns=text(obj.get("IPv6AlternateDNSServer")),
        ),
    )


def vm(obj: dict[str, Any]) -> VMInfo:
    return VMInfo(
        name=obj["Name"],
        id=obj["Id"],
        host=str(obj.get("ComputerName") or ""),
        state=_req(VMState, obj.get("State")),
        status=text(obj.get("Status")),
        uptime_seconds=int(obj.get("UptimeSeconds") or 0),
        replication_state=_req(ReplicationState, obj.get("ReplicationState") or "Disabled"),
        replication_health=_req(ReplicationHealth, obj.get("ReplicationHealth") or "NotApplicable"),
        replication_mode=_req(ReplicationMode, obj.get("ReplicationMode") or "None"),
        heartbeat=text(obj.get("Heartbeat")),
        processor_count=int(obj.get("ProcessorCount") or 0),
        memory_startup_bytes=int(obj.get("MemoryStartup") or 0),
        generation=int(obj.get("Generation") or 0),
        path=text(obj.get("Path")),
        network_adapters=[adapter(a) for a in as_list(obj.get("NetworkAdapters")) if isinstance(a, dict)],
        hard_drive_paths=[str(p) for p in as_list(obj.get("HardDrivePaths"))],
    )


def replication(obj: dict[str, Any]) -> ReplicationInfo:
    port = obj.get("ReplicaServerPort")
    return ReplicationInfo(
        vm_name=obj["VMName"],
        vm_id=obj["VMId"],
        state=_req(ReplicationState, obj.get("ReplicationState")),
        health=_req(ReplicationHealth, obj.get("ReplicationHealth")),
        mode=_req(ReplicationMode, obj.get("ReplicationMode")),
        relationship_type=_req(ReplicationRelationshipType, obj.get("ReplicationRelationshipType") or "Simple"),
        primary_server=text(obj.get("PrimaryServerName")),
        replica_server=text(obj.get("ReplicaServerName")),
        current_replica_server=text(obj.get("CurrentReplicaServerName")),
        replica_port=int(port) if port else None,
        authentication_type=enum(AuthenticationType, obj.get("AuthenticationType")),
        frequency_sec=obj.get("ReplicationFrequencySec") or None,
        recovery_history=int(obj.get("RecoveryHistory") or 0),
        vss_snapshot_frequency_hour=int(obj.get("VSSSnapshotFrequencyHour") or 0),
        compression_enabled=bool(obj.get("CompressionEnabled", True)),
        auto_resynchronize_enabled=bool(obj.get("AutoResynchronizeEnabled")),
        last_replication_time=ps_datetime(obj.get("LastReplicationTime")),
        test_vm_name=text(obj.get("TestVirtualMachine")),
    )


def health(obj: dict[str, Any]) -> ReplicationHealthReport:
    return ReplicationHealthReport(
        vm_name=obj["VMName"],
        state=_req(ReplicationState, obj.get("ReplicationState")),
        health=_req(ReplicationHealth, obj.get("ReplicationHealth")),
        mode=_req(ReplicationMode, obj.get("ReplicationMode")),
        last_replication_time=ps_datetime(obj.get("LastReplicationTime")),
        last_replication_type=enum(ReplicationType, obj.get("LastReplicationType")),
        pending_replication_bytes=int(obj.get("PendingReplicationSize") or 0),
        initial_replication_bytes=int(obj.get("InitialReplicationSize") or 0),
        average_replication_bytes=int(obj.get("AverageReplicationSize") or 0),
        average_latency_seconds=timespan_seconds(obj.get("AverageReplicationLatency")),
        successful_replication_count=int(obj.get("SuccessfulReplicationCount") or 0),
        missed_replication_count=int(obj.get("MissedReplicationCount") or 0),
        replication_errors=int(obj.get("ReplicationErrors") or 0),
        health_details=[str(d) for d in as_list(obj.get("ReplicationHealthDetails"))],
    )


def drive_space(obj: dict[str, Any]) -> DriveSpace:
    return DriveSpace(name=str(obj["Name"]), used_bytes=int(obj.get("Used") or 0), free_bytes=int(obj.get("Free") or 0))


def replication_server(obj: dict[str, Any]) -> ReplicationServerInfo:
    return ReplicationServerInfo(
        replication_enabled=bool(obj.get("ReplicationEnabled")),
        allowed_authentication_type=enum(ServerAuthenticationType, obj.get("AllowedAuthenticationType")),
        replication_allowed_from_any_server=bool(obj.get("ReplicationAllowedFromAnyServer")),
        default_storage_location=text(obj.get("DefaultStorageLocation")),
        kerberos_port=obj.get("KerberosAuthenticationPort") or None,
        certificate_port=obj.get("CertificateAuthenticationPort") or None,
        certificate_thumbprint=text(obj.get("CertificateThumbprint")),
    )


def recovery_point(obj: dict[str, Any]) -> RecoveryPoint:
    return RecoveryPoint(
        id=obj["Id"],
        name=str(obj.get("Name") or ""),
        vm_name=str(obj.get("VMName") or ""),
        snapshot_type=_req(SnapshotType, obj.get("SnapshotType")),
        creation_time=ps_datetime(obj.get("CreationTime")),
    )


def heartbeat(obj: dict[str, Any]) -> Heartbeat:
    return Heartbeat(
        vm_name=str(obj.get("VMName") or ""),
        enabled=bool(obj.get("Enabled")),
        status=text(obj.get("Heartbeat")),
        primary_status=text(obj.get("PrimaryStatus")),
        description=text(obj.get("Description")),
    )


def connection_test(items: list[Any]) -> ConnectionTestResult:
    return ConnectionTestResult(succeeded=True, message="\n".join(str(i) for i in items if i is not None))


def vmm_cloud(obj: dict[str, Any]) -> VMMCloud:
    paths = [str(p) for p in as_list(obj.get("HostGroupPaths"))]
    return VMMCloud(name=obj["Name"], id=obj["ID"], host_group_paths=paths)


def vmm_host(obj: dict[str, Any]) -> VMMHost:
    return VMMHost(
        name=obj["Name"],
        computer_name=str(obj.get("ComputerName") or ""),
        host_group_path=text(obj.get("HostGroupPath")),
        overall_state=text(obj.get("OverallState")),
    )


def vmm_vm(obj: dict[str, Any]) -> VMMVirtualMachine:
    return VMMVirtualMachine(
        name=obj["Name"],
        id=obj["ID"],
        vm_id=obj["VMId"],
        host_name=text(obj.get("HostName")),
        status=text(obj.get("Status")),
        cloud_name=text(obj.get("CloudName")),
    )
