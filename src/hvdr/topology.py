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

import ipaddress
import math
import re
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hvdr.display import describe_character, unsafe_character
from hvdr.errors import ConfigError
from hvdr.yamlfile import YAMLRefused, decode_utf8, load_yaml

TOPOLOGY_VERSION = 1


NAME_MAX = 100
"""The longest name hvdr accepts (Hyper-V Manager's limit for a VM name)."""
NUMBER_MAX = 1e15
"""Larger numbers are no real size, count or duration: refused rather than stored (and shown as 1e+39)."""


def _check_text(value: Any, multiline: bool = False) -> Any:
    if isinstance(value, str):
        bad = unsafe_character(value.replace("\n", "").replace("\t", "") if multiline else value)
        if bad is not None:
            raise ValueError(f"contains {describe_character(bad)}: control characters are not allowed here")
    return value


def _check_free_text(value: Any) -> Any:
    return _check_text(value, multiline=True)


def _check_number(value: Any) -> Any:
    """Numbers are numbers (not quoted text, not true/false), finite and in range."""
    if isinstance(value, str):
        # YAML reads 1e39 (no dot) as text too; only a plain quoted number gets the hint about quotes.
        hint = " (write it without quotes)" if re.fullmatch(r"[-+]?\d+(\.\d*)?", value.strip()) else ""
        raise ValueError(f"must be a number, not the text {value!r}{hint}")
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {str(value).lower()}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}")
    if isinstance(value, int | float) and abs(value) > NUMBER_MAX:
        raise ValueError(f"{value:g} is out of range")
    return value


def _check_name(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.strip():
        raise ValueError("a name cannot be empty")
    if len(value) > NAME_MAX:
        raise ValueError(f"a name is at most {NAME_MAX} characters (this one has {len(value)})")
    return value


Text = Annotated[str, BeforeValidator(_check_text)]
"""One line of text: no control characters."""
OptText = Annotated[str | None, BeforeValidator(_check_text)]
FreeText = Annotated[str, BeforeValidator(_check_free_text)]
"""Text that may span lines (descriptions, scripts, instructions): newlines and tabs, no other controls."""
Name = Annotated[str, BeforeValidator(_check_text), AfterValidator(_check_name)]
"""A name (site, cloud, VM, switch, network, policy, plan …): 1–100 characters, no control characters."""
OptName = Annotated[str | None, BeforeValidator(_check_text), AfterValidator(_check_name)]
Int = Annotated[int, BeforeValidator(_check_number)]
OptInt = Annotated[int | None, BeforeValidator(_check_number)]
Float = Annotated[float, BeforeValidator(_check_number)]


def host_key(name: str) -> str:
    """A DNS name as compared: case-insensitive, and ``hv1.corp.example.`` (rooted) is ``hv1.corp.example``."""
    return name.rstrip(".").lower()


def same_host(a: str, b: str) -> bool:
    """hvdr's one rule for "these names are the same computer", as Windows resolves names: case-insensitive,
    a trailing dot or not, and a short name (``HV01``) is the FQDN whose first label it is (``hv01.corp.example``).

    Every comparison of host names (inventory, worker, activities, readiness) goes through it."""
    x, y = host_key(a), host_key(b)
    if not x or not y:
        return False
    if x == y:
        return True
    if "." in x and "." in y:
        return False
    return x.split(".", 1)[0] == y.split(".", 1)[0]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


class Site(_Model):
    """A datacenter: a failure domain with its own hosts, VMM server and hvdr site worker."""

    name: Name
    description: FreeText = ""


class WinRMEndpoint(_Model):
    """How to reach a host over WinRM; ``url`` may be omitted where it is assigned later (the lab)."""

    url: OptText = None
    transport: Literal["ntlm", "kerberos", "credssp", "basic", "plaintext", "ssl", "certificate"] = "ntlm"
    insecure: bool = False
    """Allow plain HTTP (``http://…:5985/wsman``): the credential crosses the network unprotected, so only for a
    lab or an isolated management network. HTTPS is always validated (see ``ca_cert``)."""
    ca_cert: OptText = None
    """PEM bundle, on the site worker, that validates the host's WinRM certificate: an internal CA, or the host's
    own self-signed certificate. Without it, the public CAs of certifi's bundle."""
    client_cert: OptText = None
    """``transport: certificate``: the client certificate (PEM, on the site worker) mapped to an account on the host."""
    client_key: OptText = None
    """``transport: certificate``: the client certificate's private key (PEM, on the site worker)."""


class AuthorizationEntry(_Model):
    """``New-VMReplicationAuthorizationEntry``: a primary server allowed to replicate to this host."""

    allowed_primary_server: Text
    replica_storage_location: Text
    trust_group: Text = "default"


class TopologyReplicaServer(_Model):
    """A host's ``replica_server:`` section: what ``Set-VMReplicationServer`` sets on a host that receives
    replicas (runs carry it as ``protection.ReplicaServerSpec``, the driver takes ``hv.ReplicaServerSettings``)."""

    enabled: bool = False
    authentication: Literal["kerberos", "certificate", "certificate_and_kerberos"] = "kerberos"
    kerberos_port: Int = Field(80, ge=1, le=65535)
    certificate_port: Int = Field(443, ge=1, le=65535)
    certificate_thumbprint: OptText = None
    allowed_from_any_server: bool = True
    default_storage_location: OptText = "D:\\Hyper-V Replica"
    authorization_entries: list[AuthorizationEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> TopologyReplicaServer:
        if self.enabled and self.allowed_from_any_server and not self.default_storage_location:
            raise ValueError("default_storage_location is required when replication is allowed from any server")
        if self.enabled and self.authentication != "kerberos" and not self.certificate_thumbprint:
            raise ValueError("certificate authentication needs certificate_thumbprint")
        return self


class VirtualSwitch(_Model):
    name: Name
    type: Literal["External", "Internal", "Private"] = "External"


class TopologyVMMServer(_Model):
    """A System Center VMM server managing one site's hosts, as the file declares it."""

    name: Text
    """FQDN."""
    site: Text
    winrm: WinRMEndpoint = Field(default_factory=WinRMEndpoint)
    credential: OptText = None
    port: Int = 8100


class Cloud(_Model):
    """A VMM cloud: a set of one site's hosts, the unit that is paired and protected."""

    name: Name
    site: Text
    vmm_server: OptText = None
    host_group: OptText = None
    """VMM host-group path; defaults to ``All Hosts\\<site>\\<cloud>``."""

    def host_group_path(self) -> str:
        return self.host_group or f"All Hosts\\{self.site}\\{self.name}"


class TopologyHost(_Model):
    """A Hyper-V host as the file declares it (the driver's ``hvdr.hyperv.HyperVHost`` is what commands it;
    the lab's ``LabHost`` emulates it)."""

    fqdn: Text
    site: Text
    cloud: OptText = None
    winrm: WinRMEndpoint = Field(default_factory=WinRMEndpoint)
    credential: OptText = None
    """A credential *name*, resolved by the site worker (or by ``lab.credentials``); never a secret."""
    replica_server: TopologyReplicaServer = Field(default_factory=TopologyReplicaServer)
    logical_processors: Int = Field(16, ge=1)
    memory_gb: Int = Field(256, ge=1)
    virtual_machine_path: Text = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"
    virtual_hard_disk_path: Text = "C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks"
    switches: list[VirtualSwitch] = Field(default_factory=list)

    @property
    def short_name(self) -> str:
        return self.fqdn.split(".", 1)[0]

    def is_named(self, name: str) -> bool:
        """Whether ``name`` is this host: its FQDN or short name, in any case, with or without a trailing dot."""
        return same_host(name, self.fqdn)


class Disk(_Model):
    name: Name
    size_gb: Float = Field(gt=0)
    path: OptText = None
    excluded: bool = False
    """Not replicated (``-ExcludedVhdPath``): pagefile or scratch disks."""


class FailoverIPv4(_Model):
    """``Set-VMNetworkAdapterFailoverConfiguration``: the address the guest takes after failover."""

    address: Text
    subnet_mask: Text
    default_gateway: OptText = None
    preferred_dns_server: OptText = None
    alternate_dns_server: OptText = None


class FailoverIPv6(_Model):
    """The IPv6 half of ``Set-VMNetworkAdapterFailoverConfiguration``."""

    address: Text
    prefix_length: Int = Field(ge=0, le=128)
    default_gateway: OptText = None
    preferred_dns_server: OptText = None
    alternate_dns_server: OptText = None


class NetworkAdapter(_Model):
    name: Text = "Network Adapter"
    switch: OptText = None
    """The virtual switch (the VM network) the adapter connects to; None = not connected."""
    ip_addresses: list[Text] = Field(default_factory=list)
    failover_ipv4: FailoverIPv4 | None = None
    failover_ipv6: FailoverIPv6 | None = None


class VM(_Model):
    name: Name
    host: Text
    tier: OptText = None
    tags: list[Text] = Field(default_factory=list)
    cpu: Int = Field(2, ge=1)
    memory_gb: Float = Field(4, gt=0)
    generation: Annotated[Literal[1, 2], BeforeValidator(_check_number)] = 2
    disks: list[Disk] = Field(default_factory=lambda: [Disk(name="os.vhdx", size_gb=40)])
    network_adapters: list[NetworkAdapter] = Field(default_factory=list)
    power_state: Literal["running", "off", "saved"] = "running"
    shutdown_s: Float = Field(30.0, ge=0)
    """Lab only: how long the guest takes to shut down (a Windows server takes 20-60 s)."""
    boot_s: Float = Field(30.0, ge=0)
    """Lab only: how long the guest takes to boot until its integration services answer."""
    id: OptText = None
    """The Hyper-V VM GUID, when it is known (discovery fills it)."""


class ReplicationAuth(_Model):
    type: Literal["kerberos", "certificate"] = "kerberos"
    port: OptInt = Field(None, ge=1, le=65535)
    """Defaults to 80 for Kerberos, 443 for certificate."""
    certificate_thumbprint: OptText = None

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
    export_path: Text
    import_path: Text


InitialReplication = Annotated[NetworkNow | Scheduled | Offline, Field(discriminator="method")]


class TimeWindow(_Model):
    """A daily window, host-local time (``start`` may be after ``end``: the window spans midnight)."""

    start: time
    end: time


class ReplicationPolicy(_Model):
    """How a cloud pairing replicates: Enable-VMReplication's settings, and what hvdr does around them."""

    name: Name
    copy_frequency_s: Annotated[Literal[30, 300, 900], BeforeValidator(_check_number)] = 300
    recovery_point_hours: Int = Field(0, ge=0, le=24)
    app_consistent_hours: Int = Field(0, ge=0, le=12)
    """0 = no application-consistent points; 1–12 needs recovery_point_hours > 0."""
    compression: bool = True
    auth: ReplicationAuth = Field(default_factory=ReplicationAuth)
    initial_replication: InitialReplication = Field(default_factory=NetworkNow)
    delete_replica_on_disable: bool = False
    rpo_alert_threshold_s: Int = Field(1800, ge=30)
    excluded_disk_names: list[Text] = Field(default_factory=list)
    auto_heal: bool = True
    """Resume replication after a transient error and resynchronize when Hyper-V requires it."""
    resync_window: TimeWindow | None = None
    """Resynchronize only inside this window (resync is heavy); None = at once."""
    drill_max_age_days: Int = Field(30, ge=1)
    """`hvdr check`: a recovery plan of this pairing needs a successful drill at most this many days old."""

    @model_validator(mode="after")
    def _check(self) -> ReplicationPolicy:
        if self.app_consistent_hours and not self.recovery_point_hours:
            raise ValueError("app_consistent_hours needs recovery_point_hours > 0")
        return self


class CloudPairing(_Model):
    primary_cloud: Text
    recovery_cloud: Text
    policy: Text


class NetworkMapping(_Model):
    """A source VM network (switch) and where its VMs connect at the recovery site, for real and in tests."""

    source_network: Name
    target_network: Name
    test_network: OptName = None
    source_site: OptText = None
    target_site: OptText = None
    source_subnet: OptText = None
    """The IPv4/IPv6 subnet (CIDR) of the source network; with ``target_subnet``, says whether failover changes
    subnet, so that `hvdr check` can ask for a failover IP on every adapter of a plan's VMs on this network."""
    target_subnet: OptText = None

    @field_validator("source_subnet", "target_subnet")
    @classmethod
    def _subnet(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not a subnet in CIDR form (like 10.2.0.0/24)") from None
        return value


SCRIPT_MAX_CHARS = 2900
"""An action's script travels on powershell.exe's command line (``-EncodedCommand``, UTF-16 in base64): cmd.exe's
8,191-character limit leaves about 3,000 characters of script once hvdr's prologue is in."""


class ScriptAction(_Model):
    """PowerShell run on a named Hyper-V host over WinRM; a non-zero exit, an error record or the timeout fails it."""

    type: Literal["script"] = "script"
    name: Name
    host: Text
    script: FreeText
    timeout_s: Int = Field(300, ge=1)
    """Real seconds the script may run; then it is stopped and the step fails."""
    idempotent: bool = False
    """The script may safely run twice. Only then does hvdr run it again when a crash or a lost answer leaves
    unknown whether it ran; otherwise the step fails as "outcome unknown" and a person decides."""

    @field_validator("script")
    @classmethod
    def _script_fits(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a script action needs a script")
        length = len(value.encode("utf-16-le")) // 2  # as Windows counts: a character beyond U+FFFF is two
        if length > SCRIPT_MAX_CHARS:
            raise ValueError(
                f"a script action holds at most {SCRIPT_MAX_CHARS} characters (this one has {length}): "
                "the Windows command line limit; keep a longer script on the host and call it from here"
            )
        return value


class ManualAction(_Model):
    """A person does something, then approves (``hvdr approve RUN STEP``) or rejects it."""

    type: Literal["manual"] = "manual"
    name: Name
    instructions: FreeText
    timeout_s: OptInt = Field(None, ge=1)
    """Seconds to wait for a decision (plan time: the lab's speed shortens it); none: wait until decided."""


class DelayAction(_Model):
    type: Literal["delay"] = "delay"
    name: Name = "delay"
    seconds: Int = Field(ge=0)
    """Plan time (the lab's speed shortens it)."""


PlanAction = Annotated[ScriptAction | ManualAction | DelayAction, Field(discriminator="type")]


class PlanGroup(_Model):
    """VMs failed over together; groups run in order."""

    name: Name
    vms: list[Text]
    pre_actions: list[PlanAction] = Field(default_factory=list)
    post_actions: list[PlanAction] = Field(default_factory=list)


class RecoveryPlan(_Model):
    name: Name
    description: FreeText = ""
    primary_cloud: OptText = None
    recovery_cloud: OptText = None
    groups: list[PlanGroup]
    rto_target_s: OptInt = Field(None, ge=1)
    on_failure: (
        Literal["stop", "continue", "rollback"]
        | dict[Literal["planned", "unplanned", "test"], Literal["stop", "continue", "rollback"]]
        | None
    ) = None
    """A VM's operation fails: its group finishes, then ``stop`` the plan or ``continue`` with the next groups
    (``rollback`` stops too; the failed VM is rolled back by its own operation). One word for every kind, or one
    per kind (``{planned: stop, unplanned: continue}``); unset: planned and test stop, unplanned continues."""


class LabCredential(_Model):
    username: Text
    password: Text


class TierWorkload(_Model):
    """Guest writes on a running VM of that tier."""

    write_kib_per_s: Float = Field(64.0, ge=0)
    write_size_kib: Int = Field(64, ge=1)
    hot_fraction: Float = Field(0.2, gt=0, le=1)
    """Writes land in the first ``hot_fraction`` of each disk's blocks (a working set)."""


class LabSettings(_Model):
    """Facts only the lab uses."""

    speed: Float = Field(60.0, ge=0)
    seed: Int = 1
    credentials: dict[Text, LabCredential] = Field(
        default_factory=lambda: {"lab-admin": LabCredential(username="lab\\hvdr", password="hvdr-lab")}
    )
    default_credential: Text = "lab-admin"
    workload: dict[Text, TierWorkload] = Field(default_factory=dict)
    default_workload: TierWorkload = Field(default_factory=TierWorkload)
    block_size_mib: Int = Field(4, ge=1)
    used_fraction: Float = Field(0.3, ge=0, le=1)
    """How much of each disk an installed image fills when the lab starts."""
    https: bool = False
    link_mib_per_s: Float = Field(100.0, gt=0)
    """The replication link's bandwidth: transfers (and the final sync of a planned failover) take
    bytes / bandwidth."""
    replica_storage_gb: Float = Field(4096.0, gt=0)
    """The size of each host's replica storage volume (``Get-PSDrive`` reports what replicas leave free)."""


class Topology(_Model):
    version: Int = TOPOLOGY_VERSION
    sites: list[Site]
    vmm_servers: list[TopologyVMMServer] = Field(default_factory=list)
    clouds: list[Cloud] = Field(default_factory=list)
    hosts: list[TopologyHost]
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

    def host(self, name: str) -> TopologyHost | None:
        """A host by FQDN or short name (case-insensitive, trailing dot or not)."""
        return next((host for host in self.hosts if host.is_named(name)), None)


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
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read topology {file}: {exc.strerror or exc}") from exc
    try:
        _node, data = load_yaml(decode_utf8(raw))
    except YAMLRefused as exc:
        where = f"{file}:{exc.line}" if exc.line else str(file)
        raise ConfigError(f"{where}: {exc.message}") from exc
    return parse_topology(data, str(file))


def default_topology_path() -> Path:
    return Path(__file__).parent / "lab" / "default_topology.yaml"


def default_topology() -> Topology:
    """The lab's built-in estate (two sites, four hosts, two VMM servers, twelve VMs)."""
    return load_topology(default_topology_path())


__all__ = [
    "NAME_MAX",
    "VM",
    "AuthorizationEntry",
    "Cloud",
    "CloudPairing",
    "DelayAction",
    "Disk",
    "FailoverIPv4",
    "LabCredential",
    "LabSettings",
    "ManualAction",
    "Name",
    "NetworkAdapter",
    "NetworkMapping",
    "NetworkNow",
    "Offline",
    "PlanGroup",
    "RecoveryPlan",
    "ReplicationAuth",
    "ReplicationPolicy",
    "Scheduled",
    "ScriptAction",
    "Site",
    "TierWorkload",
    "TimeWindow",
    "Topology",
    "TopologyHost",
    "TopologyReplicaServer",
    "TopologyVMMServer",
    "VirtualSwitch",
    "WinRMEndpoint",
    "default_topology",
    "default_topology_path",
    "host_key",
    "load_topology",
    "parse_topology",
    "same_host",
]
