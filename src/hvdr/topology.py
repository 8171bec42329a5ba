"""The topology file: the estate hvdr protects, as YAML (the lab builds from it; inventory applies it).

One document describes sites, VMM servers and their clouds, Hyper-V hosts (with how to reach them over WinRM
and their Replica-server settings), VMs, replication policies, cloud pairings, network mappings and recovery
plans; a ``lab:`` section holds facts only the lab uses (its WinRM credentials, workload, speed). Field
names are snake_case and part of the file-format contract; secrets never appear outside ``lab:`` — hosts
name a ``credential`` that the site worker resolves.

This module only parses and checks each object's own fields; cross references (a VM's host exists, a
pairing's clouds exist …) are validated by ``hvdr.inventory`` (and by the lab when it builds an estate).
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hvdr.errors import ConfigError

TOPOLOGY_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Site(_Model):
    """A datacenter: a failure domain with its own hosts, VMM server and hvdr site worker."""

    name: str
    description: str = ""


class WinRMEndpoint(_Model):
    """How to reach a host over WinRM; ``url`` may be omitted where it is assigned later (the lab)."""

    url: str | None = None
    transport: Literal["ntlm", "kerberos", "credssp", "basic", "plaintext", "ssl", "certificate"] = "ntlm"
    insecure: bool = False
    """Allow plain HTTP (``http://…:5985/wsman``): the credential crosses the network unprotected, so only for a
    lab or an isolated management network. HTTPS is always validated (see ``ca_cert``)."""
    ca_cert: str | None = None
    """PEM bundle, on the site worker, that validates the host's WinRM certificate: an internal CA, or the host's
    own self-signed certificate. Without it, the public CAs of certifi's bundle."""
    client_cert: str | None = None
    """``transport: certificate``: the client certificate (PEM, on the site worker) mapped to an account on the host."""
    client_key: str | None = None
    """``transport: certificate``: the client certificate's private key (PEM, on the site worker)."""


class AuthorizationEntry(_Model):
    """``New-VMReplicationAuthorizationEntry``: a primary server allowed to replicate to this host."""

    allowed_primary_server: str
    replica_storage_location: str
    trust_group: str = "default"


class ReplicaServerSettings(_Model):
    """What ``Set-VMReplicationServer`` sets on a host that receives replicas."""

    enabled: bool = False
    authentication: Literal["kerberos", "certificate", "certificate_and_kerberos"] = "kerberos"
    kerberos_port: int = Field(80, ge=1, le=65535)
    certificate_port: int = Field(443, ge=1, le=65535)
    certificate_thumbprint: str | None = None
    allowed_from_any_server: bool = True
    default_storage_location: str | None = "D:\\Hyper-V Replica"
    authorization_entries: list[AuthorizationEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> ReplicaServerSettings:
        if self.enabled and self.allowed_from_any_server and not self.default_storage_location:
            raise ValueError("default_storage_location is required when replication is allowed from any server")
        if self.enabled and self.authentication != "kerberos" and not self.certificate_thumbprint:
            raise ValueError("certificate authentication needs certificate_thumbprint")
        return self


class VirtualSwitch(_Model):
    name: str
    type: Literal["External", "Internal", "Private"] = "External"


class VMMServer(_Model):
    """A System Center VMM server managing one site's hosts."""

    name: str
    """FQDN."""
    site: str
    winrm: WinRMEndpoint = Field(default_factory=WinRMEndpoint)
    credential: str | None = None
    port: int = 8100


class Cloud(_Model):
    """A VMM cloud: a set of one site's hosts, the unit that is paired and protected."""

    name: str
    site: str
    vmm_server: str | None = None
    host_group: str | None = None
    """VMM host-group path; defaults to ``All Hosts\\<site>\\<cloud>``."""

    def host_group_path(self) -> str:
        return self.host_group or f"All Hosts\\{self.site}\\{self.name}"


class HyperVHost(_Model):
    """A Hyper-V host."""

    fqdn: str
    site: str
    cloud: str | None = None
    winrm: WinRMEndpoint = Field(default_factory=WinRMEndpoint)
    credential: str | None = None
    """A credential *name*, resolved by the site worker (or by ``lab.credentials``); never a secret."""
    replica_server: ReplicaServerSettings = Field(default_factory=ReplicaServerSettings)
    logical_processors: int = Field(16, ge=1)
    memory_gb: int = Field(256, ge=1)
    virtual_machine_path: str = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"
    virtual_hard_disk_path: str = "C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks"
    switches: list[VirtualSwitch] = Field(default_factory=list)

    @property
    def short_name(self) -> str:
        return self.fqdn.split(".", 1)[0]


class Disk(_Model):
    name: str
    size_gb: float = Field(gt=0)
    path: str | None = None
    excluded: bool = False
    """Not replicated (``-ExcludedVhdPath``): pagefile or scratch disks."""


class FailoverIPv4(_Model):
    """``Set-VMNetworkAdapterFailoverConfiguration``: the address the guest takes after failover."""

    address: str
    subnet_mask: str
    default_gateway: str | None = None
    preferred_dns_server: str | None = None
    alternate_dns_server: str | None = None


class FailoverIPv6(_Model):
    """The IPv6 half of ``Set-VMNetworkAdapterFailoverConfiguration``."""

    address: str
    prefix_length: int = Field(ge=0, le=128)
    default_gateway: str | None = None
    preferred_dns_server: str | None = None
    alternate_dns_server: str | None = None


class NetworkAdapter(_Model):
    name: str = "Network Adapter"
    switch: str | None = None
    """The virtual switch (the VM network) the adapter connects to; None = not connected."""
    ip_addresses: list[str] = Field(default_factory=list)
    failover_ipv4: FailoverIPv4 | None = None
    failover_ipv6: FailoverIPv6 | None = None


class VM(_Model):
    name: str
    host: str
    tier: str | None = None
    tags: list[str] = Field(default_factory=list)
    cpu: int = Field(2, ge=1)
    memory_gb: float = Field(4, gt=0)
    generation: Literal[1, 2] = 2
    disks: list[Disk] = Field(default_factory=lambda: [Disk(name="os.vhdx", size_gb=40)])
    network_adapters: list[NetworkAdapter] = Field(default_factory=list)
    power_state: Literal["running", "off", "saved"] = "running"
    shutdown_s: float = Field(30.0, ge=0)
    """Lab only: how long the guest takes to shut down (a Windows server takes 20-60 s)."""
    boot_s: float = Field(30.0, ge=0)
    """Lab only: how long the guest takes to boot until its integration services answer."""
    id: str | None = None
    """The Hyper-V VM GUID, when it is known (discovery fills it)."""


class ReplicationAuth(_Model):
    type: Literal["kerberos", "certificate"] = "kerberos"
    port: int | None = Field(None, ge=1, le=65535)
    """Defaults to 80 for Kerberos, 443 for certificate."""
    certificate_thumbprint: str | None = None

    @model_validator(mode="after")
    def _check(self) -> ReplicationAuth:
        if self.type == "certificate" and not self.certificate_thumbprint:
            raise ValueError("certificate authentication needs certificate_thumbprint")
        if self.type == "kerberos" and self.certificate_thumbprint:
            raise ValueError("certificate_thumbprint is only for certificate authentication")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or (80 if self.type == "kerberos" else 443)


class NetworkNow(_Model):
    method: Literal["network_now"] = "network_now"


class Scheduled(_Model):
    method: Literal["scheduled"] = "scheduled"
    at: datetime


class Offline(_Model):
    method: Literal["offline"] = "offline"
    export_path: str
    import_path: str


InitialReplication = Annotated[NetworkNow | Scheduled | Offline, Field(discriminator="method")]


class TimeWindow(_Model):
    """A daily window, host-local time (``start`` may be after ``end``: the window spans midnight)."""

    start: time
    end: time


class ReplicationPolicy(_Model):
    """How a cloud pairing replicates: Enable-VMReplication's settings, and what hvdr does around them."""

    name: str
    copy_frequency_s: Literal[30, 300, 900] = 300
    recovery_point_hours: int = Field(0, ge=0, le=24)
    app_consistent_hours: int = Field(0, ge=0, le=12)
    """0 = no application-consistent points; 1–12 needs recovery_point_hours > 0."""
    compression: bool = True
    auth: ReplicationAuth = Field(default_factory=ReplicationAuth)
    initial_replication: InitialReplication = Field(default_factory=NetworkNow)
    delete_replica_on_disable: bool = False
    rpo_alert_threshold_s: int = Field(1800, ge=30)
    excluded_disk_names: list[str] = Field(default_factory=list)
    auto_heal: bool = True
    """Resume replication after a transient error and resynchronize when Hyper-V requires it."""
    resync_window: TimeWindow | None = None
    """Resynchronize only inside this window (resync is heavy); None = at once."""

    @model_validator(mode="after")
    def _check(self) -> ReplicationPolicy:
        if self.app_consistent_hours and not self.recovery_point_hours:
            raise ValueError("app_consistent_hours needs recovery_point_hours > 0")
        return self


class CloudPairing(_Model):
    primary_cloud: str
    recovery_cloud: str
    policy: str


class NetworkMapping(_Model):
    """A source VM network (switch) and where its VMs connect at the recovery site, for real and in tests."""

    source_network: str
    target_network: str
    test_network: str | None = None
    source_site: str | None = None
    target_site: str | None = None


class ScriptAction(_Model):
    type: Literal["script"] = "script"
    name: str
    host: str
    script: str
    timeout_s: int = Field(300, ge=1)


class ManualAction(_Model):
    type: Literal["manual"] = "manual"
    name: str
    instructions: str
    timeout_s: int | None = Field(None, ge=1)


class DelayAction(_Model):
    type: Literal["delay"] = "delay"
    name: str = "delay"
    seconds: int = Field(ge=0)


PlanAction = Annotated[ScriptAction | ManualAction | DelayAction, Field(discriminator="type")]


class PlanGroup(_Model):
    """VMs failed over together; groups run in order."""

    name: str
    vms: list[str]
    pre_actions: list[PlanAction] = Field(default_factory=list)
    post_actions: list[PlanAction] = Field(default_factory=list)


class RecoveryPlan(_Model):
    name: str
    description: str = ""
    primary_cloud: str | None = None
    recovery_cloud: str | None = None
    groups: list[PlanGroup]
    rto_target_s: int | None = Field(None, ge=1)
    on_failure: Literal["stop", "continue", "rollback"] = "stop"
    """A VM's failover fails: stop the plan, continue with the rest, or roll back what was done."""


class LabCredential(_Model):
    username: str
    password: str


class TierWorkload(_Model):
    """Guest writes on a running VM of that tier."""

    write_kib_per_s: float = Field(64.0, ge=0)
    write_size_kib: int = Field(64, ge=1)
    hot_fraction: float = Field(0.2, gt=0, le=1)
    """Writes land in the first ``hot_fraction`` of each disk's blocks (a working set)."""


class LabSettings(_Model):
    """Facts only the lab uses."""

    speed: float = Field(60.0, ge=0)
    seed: int = 1
    credentials: dict[str, LabCredential] = Field(
        default_factory=lambda: {"lab-admin": LabCredential(username="lab\\hvdr", password="hvdr-lab")}
    )
    default_credential: str = "lab-admin"
    workload: dict[str, TierWorkload] = Field(default_factory=dict)
    default_workload: TierWorkload = Field(default_factory=TierWorkload)
    block_size_mib: int = Field(4, ge=1)
    used_fraction: float = Field(0.3, ge=0, le=1)
    """How much of each disk an installed image fills when the lab starts."""
    https: bool = False
    link_mib_per_s: float = Field(100.0, gt=0)
    """The replication link's bandwidth: transfers (and the final sync of a planned failover) take
    bytes / bandwidth."""
    replica_storage_gb: float = Field(4096.0, gt=0)
    """The size of each host's replica storage volume (``Get-PSDrive`` reports what replicas leave free)."""


class Topology(_Model):
    version: int = TOPOLOGY_VERSION
    sites: list[Site]
    vmm_servers: list[VMMServer] = Field(default_factory=list)
    clouds: list[Cloud] = Field(default_factory=list)
    hosts: list[HyperVHost]
    vms: list[VM] = Field(default_factory=list)
    policies: list[ReplicationPolicy] = Field(default_factory=list)
    cloud_pairings: list[CloudPairing] = Field(default_factory=list)
    network_mappings: list[NetworkMapping] = Field(default_factory=list)
    recovery_plans: list[RecoveryPlan] = Field(default_factory=list)
    lab: LabSettings = Field(default_factory=LabSettings)

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != TOPOLOGY_VERSION:
            raise ValueError(f"unsupported topology version {value} (this hvdr reads version {TOPOLOGY_VERSION})")
        return value

    def host(self, name: str) -> HyperVHost | None:
        """A host by FQDN or short name (case-insensitive)."""
        lowered = name.lower()
        for host in self.hosts:
            if host.fqdn.lower() == lowered or host.short_name.lower() == lowered:
                return host
        return None


def parse_topology(data: Any, source: str = "topology") -> Topology:
    """Validate a parsed YAML/JSON document; errors become one ConfigError naming the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        return Topology.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: {where}: {first['msg']}{more}") from exc


def load_topology(path: Path | str) -> Topology:
    """Read and validate a topology file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read topology {file}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    return parse_topology(data, str(file))


def default_topology_path() -> Path:
    return Path(__file__).parent / "lab" / "default_topology.yaml"


def default_topology() -> Topology:
    """The lab's built-in estate (two sites, four hosts, two VMM servers, twelve VMs)."""
    return load_topology(default_topology_path())


__all__ = [
    "VM",
    "AuthorizationEntry",
    "Cloud",
    "CloudPairing",
    "DelayAction",
    "Disk",
    "FailoverIPv4",
    "HyperVHost",
    "LabCredential",
    "LabSettings",
    "ManualAction",
    "NetworkAdapter",
    "NetworkMapping",
    "NetworkNow",
    "Offline",
    "PlanGroup",
    "RecoveryPlan",
    "ReplicaServerSettings",
    "ReplicationAuth",
    "ReplicationPolicy",
    "Scheduled",
    "ScriptAction",
    "Site",
    "TierWorkload",
    "TimeWindow",
    "Topology",
    "VMMServer",
    "VirtualSwitch",
    "WinRMEndpoint",
    "default_topology",
    "default_topology_path",
    "load_topology",
    "parse_topology",
]
