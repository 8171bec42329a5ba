"""One small builder per cmdlet: PowerShell script text, every value quoted, JSON out.

Rules every builder follows (and the lab's grammar accepts exactly these, see
``hvdr/lab/powershell/GRAMMAR.md``):

- the prologue ``$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'``;
- values only as single-quoted literals (:func:`ps_quote`), integers, ``$true``/``$false``, or casts in
  parentheses (``([datetime]'…')``, ``([guid]'…')``); a VM name with wildcard characters is escaped;
- only named parameters; a switch is followed by another parameter or ends the command; state-changing
  cmdlets end with ``-Confirm:$false`` (a prompt would hang the WinRM command);
- output via ``ConvertTo-Json -InputObject @(...) -Depth N -Compress`` with enums cast ``[string]`` in
  calculated properties (Windows PowerShell 5.1 writes enums as integers);
- the encoded command line fits cmd.exe's 8191 characters (:func:`finish` checks).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from hvdr.hyperv.errors import InvalidParameter
from hvdr.hyperv.models import (
    FailoverIPConfig,
    InitialReplicationMethod,
    ReplicaServerSettings,
    ReplicationSettings,
    ReplicationUpdate,
    StopMode,
)

PROLOGUE = "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'\n"
COMMAND_PREFIX = "powershell -NoLogo -NoProfile -NonInteractive -EncodedCommand "
COMMAND_LINE_LIMIT = 8191
NO_CONFIRM = "-Confirm:$false"
_QUOTES = "'\u2018\u2019\u201a\u201b"
_WILDCARDS = "*?[]"


# -- quoting ------------------------------------------------------------------------------------------
def ps_quote(value: str) -> str:
    """A single-quoted PowerShell literal: nothing inside is expanded; every quote character is doubled
    (PowerShell also ends strings on the typographic quotes U+2018–U+201B)."""
    return "'" + "".join(ch + ch if ch in _QUOTES else ch for ch in value) + "'"


def ps_name(name: str) -> str:
    """A VM name for a parameter that takes wildcards (``-Name``, ``-VMName``): matched literally."""
    if any(ch in name for ch in _WILDCARDS):
        name = "".join("`" + ch if ch in _WILDCARDS + "`" else ch for ch in name)
    return ps_quote(name)


def ps_names(vms: str | Sequence[str]) -> str:
    """One VM name, or several as a PowerShell array (``'a','b'``): Hyper-V's ``-Name`` / ``-VMName`` take
    ``String[]`` and process the VMs one after another, writing an error for one without stopping the rest."""
    return ps_name(vms) if isinstance(vms, str) else ",".join(ps_name(vm) for vm in vms)


def ps_bool(value: bool) -> str:
    return "$true" if value else "$false"


def ps_datetime(value: datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return f"([datetime]{ps_quote(aware.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ'))})"


def ps_guid(value: uuid.UUID) -> str:
    return f"([guid]{ps_quote(str(value))})"


def encoded_command(script: str) -> str:
    """The WinRS command line that runs ``script``."""
    return COMMAND_PREFIX + base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def finish(body: str) -> str:
    """Prologue + body, refused when its command line would exceed cmd.exe's limit."""
    script = PROLOGUE + body
    length = len(encoded_command(script))
    if length > COMMAND_LINE_LIMIT:
        raise InvalidParameter(
            f"the script's command line would be {length} characters; the limit is {COMMAND_LINE_LIMIT} "
            f"(about {(COMMAND_LINE_LIMIT - len(COMMAND_PREFIX)) * 3 // 8} characters of script)"
        )
    return script


def _calc(label: str, expression: str) -> str:
    return f"@{{n={ps_quote(label)};e={{{expression}}}}}"


def _enum(prop: str, label: str | None = None) -> str:
    return _calc(label or prop, f"[string]$_.{prop}")


def _json(pipeline: str, depth: int = 4) -> str:
    return f"ConvertTo-Json -InputObject @({pipeline}) -Depth {depth} -Compress"


# -- selections -----------------------------------------------------------------------------------------
ADAPTER_PROPS = "Name,VMName,SwitchName,MacAddress,IPAddresses,Connected,TestReplicaSwitchName"
VM_PROPS = ",".join(
    [
        "Name",
        _enum("Id"),
        _enum("State"),
        "Status",
        _calc("UptimeSeconds", "[int]$_.Uptime.TotalSeconds"),
        "ComputerName",
        _enum("ReplicationState"),
        _enum("ReplicationHealth"),
        _enum("ReplicationMode"),
        _enum("Heartbeat"),
        "ProcessorCount",
        "MemoryStartup",
        "Generation",
        "Path",
        _calc("NetworkAdapters", f"@($_.NetworkAdapters | Select-Object -Property {ADAPTER_PROPS})"),
        _calc("HardDrivePaths", "@($_.HardDrives.Path)"),
    ]
)
REPLICATION_PROPS = ",".join(
    [
        "VMName",
        _enum("VMId"),
        _enum("ReplicationState"),
        _enum("ReplicationHealth"),
        _enum("ReplicationMode"),
        _enum("ReplicationRelationshipType"),
        "PrimaryServerName",
        "ReplicaServerName",
        "CurrentReplicaServerName",
        "ReplicaServerPort",
        _enum("AuthenticationType"),
        "ReplicationFrequencySec",
        "RecoveryHistory",
        "VSSSnapshotFrequencyHour",
        "CompressionEnabled",
        "AutoResynchronizeEnabled",
        "LastReplicationTime",
        _calc("TestVirtualMachine", "$_.TestVirtualMachine.Name"),
    ]
)
HEALTH_PROPS = ",".join(
    [
        "VMName",
        _enum("ReplicationState"),
        _enum("ReplicationHealth"),
        _enum("ReplicationMode"),
        "LastReplicationTime",
        _enum("LastReplicationType"),
        "PendingReplicationSize",
        "InitialReplicationSize",
        "AverageReplicationSize",
        "AverageReplicationLatency",
        "SuccessfulReplicationCount",
        "MissedReplicationCount",
        "ReplicationErrors",
        "ReplicationHealthDetails",
    ]
)
SERVER_PROPS = ",".join(
    [
        "ReplicationEnabled",
        _enum("AllowedAuthenticationType"),
        "ReplicationAllowedFromAnyServer",
        "DefaultStorageLocation",
        "KerberosAuthenticationPort",
        "CertificateAuthenticationPort",
        "CertificateThumbprint",
    ]
)
SNAPSHOT_PROPS = ",".join(["Name", _enum("Id"), "VMName", _enum("SnapshotType"), "CreationTime"])


def _vm_json(vm: str | Sequence[str]) -> str:
    return _json(f"Get-VM -Name {ps_names(vm)} | Select-Object -Property {VM_PROPS}")


def _replication_json(vm: str | Sequence[str]) -> str:
    return _json(f"Get-VMReplication -VMName {ps_names(vm)} | Select-Object -Property {REPLICATION_PROPS}")


def _adapters_json(vm: str | Sequence[str]) -> str:
    return _json(f"Get-VMNetworkAdapter -VMName {ps_names(vm)} | Select-Object -Property {ADAPTER_PROPS}")


# -- reads --------------------------------------------------------------------------------------------
def list_vms() -> str:
    return finish(_json(f"Get-VM | Select-Object -Property {VM_PROPS}"))


def get_vm(vm: str | Sequence[str]) -> str:
    return finish(_vm_json(vm))


def get_replication(vm: str | Sequence[str]) -> str:
    return finish(_replication_json(vm))


def measure_replication(vm: str | None = None) -> str:
    target = f" -VMName {ps_name(vm)}" if vm is not None else ""
    return finish(_json(f"Measure-VMReplication{target} | Select-Object -Property {HEALTH_PROPS}"))


def get_host_time() -> str:
    """The host's clock (ConvertTo-Json writes DateTime as UTC epoch milliseconds, whatever the host's zone)."""
    return finish("$now = Get-Date\n" + _json("[pscustomobject]@{Now=$now}", depth=2))


def get_drive_space(path: str) -> str:
    """The drive holding ``path`` (``D:\\Hyper-V Replica`` → ``D``): its used and free bytes."""
    letter = path.strip()[:1]
    if not letter.isalpha() or path.strip()[1:2] != ":":
        raise InvalidParameter(f"{path!r} is not a local path with a drive letter (like D:\\Hyper-V Replica)")
    return finish(
        _json(
            f"Get-PSDrive -Name {ps_quote(letter.upper())} -PSProvider 'FileSystem' | "
            "Select-Object -Property Name,Used,Free",
            depth=2,
        )
    )


def list_switches() -> str:
    return finish(_json(f"Get-VMSwitch | Select-Object -Property Name,{_enum('SwitchType')}"))


def get_replication_server() -> str:
    return finish(_json(f"Get-VMReplicationServer | Select-Object -Property {SERVER_PROPS}"))


def list_recovery_points(vm: str) -> str:
    return finish(_json(f"Get-VMSnapshot -VMName {ps_name(vm)} | Select-Object -Property {SNAPSHOT_PROPS}"))


def get_network_adapters(vm: str | Sequence[str]) -> str:
    return finish(_adapters_json(vm))


def get_heartbeats(vms: Sequence[str]) -> str:
    """The heartbeat of several VMs in one command (a plan's verify): one object per VM found."""
    fields = "; ".join(
        [
            "VMName=$_.Name",
            "Heartbeat=[string]$_.Heartbeat",
            "Enabled=$hb.Enabled",
            "PrimaryStatus=[string]$hb.PrimaryOperationalStatus",
            "Description=$hb.PrimaryStatusDescription",
        ]
    )
    each = f"$hb = Get-VMIntegrationService -VM $_ -Name 'Heartbeat'; [pscustomobject]@{{{fields}}}"
    return finish(_json(f"Get-VM -Name {ps_names(vms)} | ForEach-Object -Process {{ {each} }}", depth=2))


def get_heartbeat(vm: str) -> str:
    fields = "; ".join(
        [
            "VMName=$vm.Name",
            "Heartbeat=[string]$vm.Heartbeat",
            "Enabled=$hb.Enabled",
            "PrimaryStatus=[string]$hb.PrimaryOperationalStatus",
            "Description=$hb.PrimaryStatusDescription",
        ]
    )
    return finish(
        f"$vm = Get-VM -Name {ps_name(vm)}\n"
        f"$hb = Get-VMIntegrationService -VMName {ps_name(vm)} -Name 'Heartbeat'\n"
        + _json(f"[pscustomobject]@{{{fields}}}", depth=2)
    )


def test_replication_connection(settings: ReplicationSettings) -> str:
    thumb = (
        f" -CertificateThumbprint {ps_quote(settings.certificate_thumbprint)}"
        if (settings.certificate_thumbprint)
        else ""
    )
    return finish(
        _json(
            f"Test-VMReplicationConnection -ReplicaServerName {ps_quote(settings.replica_server)} "
            f"-ReplicaServerPort {settings.replica_port} -AuthenticationType {ps_quote(settings.authentication_type)}"
            f"{thumb}",
            depth=2,
        )
    )


# -- replica server and replication -------------------------------------------------------------------
def configure_replica_server(settings: ReplicaServerSettings) -> str:
    parts = [
        "Set-VMReplicationServer -ReplicationEnabled $true",
        f"-AllowedAuthenticationType {ps_quote(settings.authentication_type)}",
        f"-ReplicationAllowedFromAnyServer {ps_bool(settings.allow_any_server)}",
        f"-KerberosAuthenticationPort {settings.kerberos_port}",
    ]
    if settings.default_storage_location is not None:
        parts.append(f"-DefaultStorageLocation {ps_quote(settings.default_storage_location)}")
    if settings.certificate_port is not None:
        parts.append(f"-CertificateAuthenticationPort {settings.certificate_port}")
    if settings.certificate_thumbprint is not None:
        parts.append(f"-CertificateThumbprint {ps_quote(settings.certificate_thumbprint)}")
    parts.append(NO_CONFIRM)
    return finish(" ".join(parts) + "\n" + _json(f"Get-VMReplicationServer | Select-Object -Property {SERVER_PROPS}"))


def _setting_params(s: ReplicationSettings | ReplicationUpdate) -> list[str]:
    parts: list[str] = []
    if s.replica_server is not None:
        parts.append(f"-ReplicaServerName {ps_quote(s.replica_server)}")
    if s.replica_port is not None:
        parts.append(f"-ReplicaServerPort {s.replica_port}")
    if s.authentication_type is not None:
        parts.append(f"-AuthenticationType {ps_quote(s.authentication_type)}")
    if s.certificate_thumbprint is not None:
        parts.append(f"-CertificateThumbprint {ps_quote(s.certificate_thumbprint)}")
    if s.frequency_sec is not None:
        parts.append(f"-ReplicationFrequencySec {s.frequency_sec}")
    if s.recovery_history is not None:
        parts.append(f"-RecoveryHistory {s.recovery_history}")
    if s.vss_snapshot_frequency_hour is not None:
        parts.append(f"-VSSSnapshotFrequencyHour {s.vss_snapshot_frequency_hour}")
    if s.compression_enabled is not None:
        parts.append(f"-CompressionEnabled {ps_bool(s.compression_enabled)}")
    if s.auto_resynchronize_enabled is not None:
        parts.append(f"-AutoResynchronizeEnabled {ps_bool(s.auto_resynchronize_enabled)}")
    return parts


def _then_replication(vm: str | Sequence[str], *command: str) -> str:
    return finish(" ".join([*command, NO_CONFIRM]) + "\n" + _replication_json(vm))


def enable_replication(vm: str, settings: ReplicationSettings) -> str:
    parts = [f"Enable-VMReplication -VMName {ps_name(vm)}", *_setting_params(settings)]
    if settings.excluded_vhd_paths:
        parts.append("-ExcludedVhdPath " + ",".join(ps_quote(p) for p in settings.excluded_vhd_paths))
    return _then_replication(vm, *parts)


def start_initial_replication(
    vm: str,
    method: InitialReplicationMethod = InitialReplicationMethod.NETWORK,
    *,
    start_time: datetime | None = None,
    destination_path: str | None = None,
) -> str:
    parts = [f"Start-VMInitialReplication -VMName {ps_name(vm)}"]
    if method is InitialReplicationMethod.SCHEDULED:
        if start_time is None:
            raise InvalidParameter("a scheduled initial replication needs start_time")
        parts.append(f"-InitialReplicationStartTime {ps_datetime(start_time)}")
    elif method is InitialReplicationMethod.EXPORT:
        if not destination_path:
            raise InvalidParameter("an exported initial replication needs destination_path")
        parts.append(f"-DestinationPath {ps_quote(destination_path)}")
    return _then_replication(vm, *parts)


def import_initial_replication(vm: str, path: str) -> str:
    return _then_replication(vm, f"Import-VMInitialReplication -VMName {ps_name(vm)} -Path {ps_quote(path)}")


def suspend_replication(vm: str) -> str:
    return _then_replication(vm, f"Suspend-VMReplication -VMName {ps_name(vm)}")


def resume_replication(vm: str, *, resynchronize: bool = False, start_time: datetime | None = None) -> str:
    parts = [f"Resume-VMReplication -VMName {ps_name(vm)}"]
    if resynchronize:
        parts.append("-Resynchronize")
        if start_time is not None:
            parts.append(f"-ResynchronizeStartTime {ps_datetime(start_time)}")
    return _then_replication(vm, *parts)


def set_replication(vm: str, update: ReplicationUpdate) -> str:
    return _then_replication(vm, f"Set-VMReplication -VMName {ps_name(vm)}", *_setting_params(update))


def reverse_replication(vm: str | Sequence[str], update: ReplicationUpdate | None = None) -> str:
    extra = _setting_params(update) if update else []
    return _then_replication(vm, f"Set-VMReplication -VMName {ps_names(vm)} -Reverse", *extra)


def set_as_replica(vm: str, allowed_primary_server: str | None = None) -> str:
    parts = [f"Set-VMReplication -VMName {ps_name(vm)} -AsReplica"]
    if allowed_primary_server:
        parts.append(f"-AllowedPrimaryServer {ps_quote(allowed_primary_server)}")
    return _then_replication(vm, *parts)


def remove_replication(vm: str) -> str:
    return finish(f"Remove-VMReplication -VMName {ps_name(vm)} {NO_CONFIRM}\n" + _vm_json(vm))


def remove_vm(vm: str) -> str:
    """Delete a (turned off) VM, e.g. the replica when protection is disabled; its disks stay on storage."""
    return finish(f"Remove-VM -Name {ps_name(vm)} -Force {NO_CONFIRM}")


# -- power and failover -------------------------------------------------------------------------------
def stop_vm(vm: str | Sequence[str], mode: StopMode = StopMode.SHUTDOWN) -> str:
    switch = {StopMode.SHUTDOWN: "", StopMode.FORCE: " -Force", StopMode.TURN_OFF: " -TurnOff"}[mode]
    return finish(f"Stop-VM -Name {ps_names(vm)}{switch} {NO_CONFIRM}\n" + _vm_json(vm))


def start_vm(vm: str | Sequence[str]) -> str:
    return finish(f"Start-VM -Name {ps_names(vm)} {NO_CONFIRM}\n" + _vm_json(vm))


def prepare_failover(vm: str | Sequence[str]) -> str:
    return _then_replication(vm, f"Start-VMFailover -VMName {ps_names(vm)} -Prepare")


def start_failover(vm: str | Sequence[str], *, recovery_point: uuid.UUID | None = None, as_test: bool = False) -> str:
    test = " -AsTest" if as_test else ""
    if recovery_point is None:
        run = f"Start-VMFailover -VMName {ps_names(vm)}{test} {NO_CONFIRM} | Out-Null"
    else:
        run = (
            f"$s = Get-VMSnapshot -Id {ps_guid(recovery_point)}\n"
            f"Start-VMFailover -VMRecoverySnapshot $s{test} {NO_CONFIRM} | Out-Null"
        )
    return finish(run + "\n" + _replication_json(vm))


def complete_failover(vm: str) -> str:
    return _then_replication(vm, f"Complete-VMFailover -VMName {ps_name(vm)}")


def stop_failover(vm: str | Sequence[str]) -> str:
    return _then_replication(vm, f"Stop-VMFailover -VMName {ps_names(vm)}")


# -- networking ---------------------------------------------------------------------------------------
def connect_network_adapter(vm: str | Sequence[str], switch_name: str, adapter_name: str | None = None) -> str:
    adapter = f" -Name {ps_quote(adapter_name)}" if adapter_name else ""
    return finish(
        f"Connect-VMNetworkAdapter -VMName {ps_names(vm)}{adapter} -SwitchName {ps_quote(switch_name)} "
        f"{NO_CONFIRM}\n" + _adapters_json(vm)
    )


def set_failover_ip(vm: str, config: FailoverIPConfig, adapter_name: str | None = None) -> str:
    parts = [f"Set-VMNetworkAdapterFailoverConfiguration -VMName {ps_name(vm)}"]
    if adapter_name:
        parts.append(f"-VMNetworkAdapterName {ps_quote(adapter_name)}")
    for param, value in (
        ("IPv4Address", config.ipv4_address),
        ("IPv4SubnetMask", config.ipv4_subnet_mask),
        ("IPv4DefaultGateway", config.ipv4_default_gateway),
        ("IPv4PreferredDNSServer", config.ipv4_preferred_dns),
        ("IPv4AlternateDNSServer", config.ipv4_alternate_dns),
        ("IPv6Address", config.ipv6_address),
        ("IPv6DefaultGateway", config.ipv6_default_gateway),
        ("IPv6PreferredDNSServer", config.ipv6_preferred_dns),
        ("IPv6AlternateDNSServer", config.ipv6_alternate_dns),
    ):
        if value is not None:
            parts.append(f"-{param} {ps_quote(value)}")
    if config.ipv6_prefix_length is not None:
        parts.append(f"-IPv6SubnetPrefixLength {config.ipv6_prefix_length}")
    return finish(" ".join([*parts, NO_CONFIRM]) + "\n" + _adapters_json(vm))


def get_failover_ip(vm: str) -> str:
    return finish(_json(f"Get-VMNetworkAdapterFailoverConfiguration -VMName {ps_name(vm)}"))


def set_test_switch(vm: str, switch_name: str, adapter_name: str | None = None) -> str:
    """``Set-VMNetworkAdapter -TestReplicaSwitchName`` on the replica: where its test VM's adapters connect."""
    adapter = f" -Name {ps_quote(adapter_name)}" if adapter_name else ""
    return finish(
        f"Set-VMNetworkAdapter -VMName {ps_name(vm)}{adapter} -TestReplicaSwitchName {ps_quote(switch_name)} "
        f"{NO_CONFIRM}\n" + _adapters_json(vm)
    )


# -- operator scripts and VMM -------------------------------------------------------------------------
def operator_script(body: str) -> str:
    """An operator's script, run as written after the prologue (its size is checked, nothing else)."""
    return finish(body)


def vmm_clouds() -> str:
    props = ",".join(["Name", _enum("ID"), _calc("HostGroupPaths", "@($_.HostGroup.Path)")])
    return finish(_json(f"Get-SCCloud | Select-Object -Property {props}"))


def vmm_hosts() -> str:
    props = ",".join(["Name", "ComputerName", _calc("HostGroupPath", "$_.VMHostGroup.Path"), _enum("OverallState")])
    return finish(_json(f"Get-SCVMHost | Select-Object -Property {props}"))


def vmm_vms() -> str:
    props = ",".join(
        [
            "Name",
            _enum("ID"),
            _enum("VMId"),
            _calc("HostName", "$_.VMHost.Name"),
            _enum("Status"),
            _calc("CloudName", "$_.Cloud.Name"),
        ]
    )
    return finish(_json(f"Get-SCVirtualMachine | Select-Object -Property {props}"))
