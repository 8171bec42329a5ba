"""Readiness (`hvdr check`): what would make a failover fail today, each finding with its fix.

The client resolves what the inventory declares into a :class:`CheckRequest`; the ``check/<id>`` workflow
reads each host once on its site's worker (:class:`HostRead` → :class:`HostFacts`, reads only) and
:func:`evaluate` compares the two. :func:`evaluate` is pure: the workflow runs it, tests call it directly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import ConfigDict, Field

from hvdr.failover import FailoverAddress
from hvdr.payloads import Durable
from hvdr.protection import Endpoint, ProtectionPolicy, ProtectionSpec
from hvdr.replication import ReplicationHealth, ReplicationState
from hvdr.topology import host_key, same_host

CHECKS_FAILED_EXIT = 10
"""`hvdr check`'s exit code when a finding is an error: apart from hvdr's error codes (1-5: the check could not
run), so a script tells "not ready" from "not checked"."""

STORAGE_MARGIN = 0.1
"""Replica storage must keep this fraction of what it holds free (recovery points and log growth), and take a
new replica's disks plus this fraction (the rule protection's preflight applies)."""


class Severity(StrEnum):
    ERROR = "error"
    """A failover would fail (or break the declared protection) if it ran now."""
    WARNING = "warning"


class Finding(Durable):
    """One problem: JSON field names are a contract (``hvdr check -o json``)."""

    check: str
    severity: Severity
    subject: str
    message: str
    fix: str


class MappedNetwork(Durable):
    """The check's copy of a topology ``NetworkMapping`` (the check's payloads are its own, not the file's)."""

    source_network: str
    target_network: str
    test_network: str | None = None
    source_subnet: str | None = None
    target_subnet: str | None = None


class RecoverySide(Durable):
    """A cloud pairing as the check needs it: its policy, the recovery hosts and the network mappings that apply."""

    primary_cloud: str
    primary_site: str
    recovery_cloud: str
    recovery_site: str
    policy: ProtectionPolicy
    hosts: list[Endpoint]
    mappings: list[MappedNetwork] = Field(default_factory=list)


class PlannedGroup(Durable):
    name: str = ""
    vms: list[str] = Field(default_factory=list)


class PlannedVMs(Durable):
    """The check's copy of a topology ``RecoveryPlan``: its name and the VMs of its groups."""

    name: str
    groups: list[PlannedGroup] = Field(default_factory=list)


class PlanCheck(Durable):
    plan: PlannedVMs
    pairing: str
    """The primary cloud of the pairing the plan fails over."""
    last_successful_drill: datetime | None = None


class DeclaredAdapter(Durable):
    name: str = "Network Adapter"
    switch: str | None = None
    failover_ipv4: FailoverAddress | None = None
    failover_ipv6: FailoverAddress | None = None


class DeclaredVM(Durable):
    """The check's copy of a topology ``VM``: its adapters and their failover IPs."""

    name: str
    network_adapters: list[DeclaredAdapter] = Field(default_factory=list)


class CheckRequest(Durable):
    """The Check workflow's input, mapped from the inventory by :func:`hvdr.inventory.readiness.check_request`
    (topology models map field by field: ``MappedNetwork.model_validate(mapping)``)."""

    check_id: str
    pairings: list[RecoverySide]
    specs: list[ProtectionSpec]
    """Every VM of the paired clouds in scope, with where its replica belongs and its policy."""
    declared_vms: list[DeclaredVM] = Field(default_factory=list)
    """The topology's VMs of the plans in scope (their adapters and failover IPs)."""
    plans: list[PlanCheck] = Field(default_factory=list)
    certificate_days: int = Field(14, ge=0)

    def host_reads(self) -> list[HostRead]:
        """One read per host, primary VMs and recovery-side facts together."""
        reads: dict[str, HostRead] = {}

        def read(endpoint: Endpoint) -> HostRead:
            return reads.setdefault(host_key(endpoint.host), HostRead(host=endpoint.host, site=endpoint.site))

        for spec in self.specs:
            read(spec.primary).vms.append(spec.vm)
        for side in self.pairings:
            for endpoint in side.hosts:
                read(endpoint).recovery = True
        return sorted(reads.values(), key=lambda r: host_key(r.host))


class HostRead(Durable):
    host: str
    site: str
    vms: list[str] = Field(default_factory=list)
    """VMs whose replication to read (on their primary host)."""
    recovery: bool = False
    """A recovery host: read its Replica server, switches and replica storage."""


class ReplicationFacts(Durable):
    """What the check keeps of a VM's replication as its primary host reports it (read from the driver's
    ``ReplicationInfo`` by attribute: the check's payloads are its own, not the driver's)."""

    model_config = ConfigDict(from_attributes=True)

    vm_name: str
    state: ReplicationState
    health: ReplicationHealth
    replica_server: str | None = None
    replica_port: int | None = None
    authentication_type: str | None = None
    frequency_sec: int | None = None
    recovery_history: int = 0
    vss_snapshot_frequency_hour: int = 0
    compression_enabled: bool = True


class ReplicaServerFacts(Durable):
    """What the check keeps of a recovery host's Replica-server settings (``Get-VMReplicationServer``)."""

    model_config = ConfigDict(from_attributes=True)

    replication_enabled: bool
    default_storage_location: str | None = None


class HostFacts(Durable):
    host: str
    present: list[str] = Field(default_factory=list)
    """Names of the VMs on the host."""
    replication: list[ReplicationFacts] = Field(default_factory=list)
    replica_server: ReplicaServerFacts | None = None
    switches: list[str] = Field(default_factory=list)
    storage_free_bytes: int | None = None
    certificate_not_after: datetime | None = None
    errors: list[str] = Field(default_factory=list)
    """Reads that failed (the host's checks that need them are not made)."""


class CheckReport(Durable):
    check_id: str
    checked_at: datetime
    hosts: int
    vms: int
    plans: int
    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def ready(self) -> bool:
        return not self.errors


SCHEDULE_KIND = "check"
ESTATE_SCOPE = "estate"
MAX_ALERT_FINDINGS = 500
"""A scheduled check publishes at most this many findings in its ``readiness`` memo (errors first)."""


def check_schedule_id(scope: str) -> str:
    """``check/<scope>``: one schedule per scope (``estate``, or the cloud or site it is limited to)."""
    return f"{SCHEDULE_KIND}/{scope}"


def scheduled_check_workflow_id(scope: str) -> str:
    """The id the schedule gives its runs (Temporal appends each occurrence's time): ``readiness/<scope>-<time>``."""
    return f"readiness/{scope}"


class ScheduledCheckInput(Durable):
    """What a scheduled check checks: the whole estate, or one cloud's or site's pairings."""

    scope: str = ESTATE_SCOPE
    cloud: str | None = None
    site: str | None = None
    certificate_days: int = Field(14, ge=0)


class ReadinessAlerts(Durable):
    """A scheduled check's ``readiness`` memo: its findings, which ``hvdr status`` shows as alerts of the VMs they
    concern until a later run of the same schedule no longer finds them."""

    schedule_id: str
    check_id: str
    checked_at: datetime
    ready: bool
    errors: int
    warnings: int
    findings: list[Finding]
    """At most ``MAX_ALERT_FINDINGS``, errors first."""
    omitted: int = 0


class CheckSchedule(Durable):
    """One scheduled readiness check (``hvdr check list``)."""

    schedule_id: str
    scope: str
    every: str = ""
    paused: bool = False
    note: str = ""
    next_runs: list[datetime] = Field(default_factory=list)
    recent_runs: list[str] = Field(default_factory=list)
    last: str = ""
    """The newest finished run's verdict: ``ready`` or ``NOT READY: n error(s)``, with its time."""


def findings_about(vm: str, hosts: list[str], findings: list[Finding]) -> list[Finding]:
    """The findings that concern a VM: about the VM itself (``<vm>``, or ``<plan>/<vm>``) or one of its hosts (a
    failover of the VM meets those too)."""
    key = vm.lower()
    return [
        f
        for f in findings
        if f.subject.lower() == key
        or f.subject.lower().rsplit("/", 1)[-1] == key
        or any(same_host(f.subject, host) for host in hosts if host)
    ]


def about_a_vm(finding: Finding, vms: set[str]) -> bool:
    """The finding names a VM (lower-case names in ``vms``), not a host or a plan."""
    return finding.subject.lower().rsplit("/", 1)[-1] in vms


def _gib(n: float) -> str:
    return f"{n / 2**30:.0f} GiB"


def evaluate(request: CheckRequest, facts: list[HostFacts], now: datetime) -> list[Finding]:
    by_host = {host_key(f.host): f for f in facts}
    findings = [*_host_reads(facts), *_certificates(request, facts, now)]
    findings += _vms(request, by_host)
    findings += _recovery_hosts(request, by_host)
    findings += _failover_ips(request)
    findings += _drills(request, now)
    return findings


def _host_reads(facts: list[HostFacts]) -> Iterator[Finding]:
    for f in facts:
        for error in f.errors:
            yield Finding(
                check="host-read",
                severity=Severity.ERROR,
                subject=f.host,
                message=f"could not read the host: {error}",
                fix="make the host reachable from its site worker (`hvdr ping`), then run `hvdr check` again",
            )


def _certificates(request: CheckRequest, facts: list[HostFacts], now: datetime) -> Iterator[Finding]:
    window = timedelta(days=request.certificate_days)
    for f in facts:
        if f.certificate_not_after is None or f.certificate_not_after - now > window:
            continue
        days = (f.certificate_not_after - now).total_seconds() / 86400
        when = f"expired {-days:.0f} day(s) ago" if days < 0 else f"expires in {days:.0f} day(s)"
        yield Finding(
            check="winrm-certificate",
            severity=Severity.ERROR,
            subject=f.host,
            message=(
                f"the WinRM HTTPS certificate {when} ({f.certificate_not_after:%Y-%m-%d}); without it the worker "
                "cannot reach the host during a failover"
            ),
            fix="renew the certificate and bind it to the WinRM HTTPS listener "
            "(Set-WSManInstance winrm/config/Listener … CertificateThumbprint)",
        )


_RESUME = {ReplicationState.SUSPENDED, ReplicationState.RESYNCHRONIZE_SUSPENDED}
_RESYNC = {ReplicationState.WAITING_FOR_START_RESYNCHRONIZE, ReplicationState.ERROR}
_SETTLING = {
    ReplicationState.READY_FOR_INITIAL_REPLICATION,
    ReplicationState.INITIAL_REPLICATION_IN_PROGRESS,
    ReplicationState.WAITING_FOR_INITIAL_REPLICATION,
    ReplicationState.RESYNCHRONIZING,
}


def _vms(request: CheckRequest, by_host: dict[str, HostFacts]) -> Iterator[Finding]:
    recovery_hosts = {side.primary_cloud: [h.host for h in side.hosts] for side in request.pairings}
    for spec in request.specs:
        facts = by_host.get(host_key(spec.primary.host))
        if facts is None or facts.errors:
            continue  # reported once as host-read
        vm = spec.vm
        if vm.lower() not in {n.lower() for n in facts.present}:
            yield Finding(
                check="vm-protected",
                severity=Severity.ERROR,
                subject=vm,
                message=f"not found on its host {spec.primary.host}",
                fix="run `hvdr discover` and `hvdr apply` so the inventory knows where the VM is",
            )
            continue
        replication = next((r for r in facts.replication if r.vm_name.lower() == vm.lower()), None)
        if replication is None:
            yield Finding(
                check="vm-protected",
                severity=Severity.ERROR,
                subject=vm,
                message=f"not replicated: cloud {spec.primary_cloud} is paired with {spec.recovery_cloud}, so a "
                "failover of its plan would find no replica",
                fix=f"hvdr protect enable --vm {vm}",
            )
            continue
        targets = recovery_hosts.get(spec.primary_cloud or "", [])
        if not any(same_host(replication.replica_server or "", target) for target in targets):
            yield Finding(
                check="vm-protected",
                severity=Severity.ERROR,
                subject=vm,
                message=f"replicates to {replication.replica_server}, which is not a host of the recovery "
                f"cloud {spec.recovery_cloud}",
                fix=f"hvdr protect disable --vm {vm}, then hvdr protect enable --vm {vm}",
            )
        yield from _health(vm, replication)
        yield from _policy(vm, replication, spec.policy)


def _health(vm: str, r: ReplicationFacts) -> Iterator[Finding]:
    if r.state in _RESUME:
        fix = f"hvdr protect resume --vm {vm}"
    elif r.state in _RESYNC or r.health is ReplicationHealth.CRITICAL:
        fix = f"hvdr protect resync --vm {vm}"
    elif r.state in _SETTLING:
        yield Finding(
            check="vm-health",
            severity=Severity.WARNING,
            subject=vm,
            message=f"replication is {r.state.value}: no complete replica to fail over to yet",
            fix=f"wait for it to finish (`hvdr status --vm {vm}`)",
        )
        return
    elif r.state is not ReplicationState.REPLICATING:
        fix = f"see `hvdr status --vm {vm}` and the VM's replication on its host"
    elif r.health is ReplicationHealth.WARNING:
        yield Finding(
            check="vm-health",
            severity=Severity.WARNING,
            subject=vm,
            message="replication health is Warning (missed cycles or RPO above the threshold)",
            fix=f"see `hvdr status --vm {vm}`; it clears when cycles succeed again",
        )
        return
    else:
        return
    yield Finding(
        check="vm-health",
        severity=Severity.ERROR,
        subject=vm,
        message=f"replication is {r.state.value} with health {r.health.value}: a failover now would lose data or fail",
        fix=fix,
    )


def _policy(vm: str, r: ReplicationFacts, policy: ProtectionPolicy) -> Iterator[Finding]:
    declared: list[tuple[str, object, object]] = [
        ("replication frequency (s)", policy.copy_frequency_s, r.frequency_sec),
        ("recovery history (hours)", policy.recovery_point_hours, r.recovery_history),
        ("app-consistent frequency (hours)", policy.app_consistent_hours, r.vss_snapshot_frequency_hour),
        ("compression", policy.compression, r.compression_enabled),
        ("authentication", policy.auth.type, (r.authentication_type or "").lower() or None),
        ("replica port", policy.auth.effective_port, r.replica_port),
    ]
    for label, wanted, actual in declared:
        if actual is not None and wanted != actual:
            yield Finding(
                check="policy",
                severity=Severity.ERROR,
                subject=vm,
                message=f"{label} is {actual} on the host; policy {policy.name} declares {wanted}",
                fix=f"hvdr protect policy {policy.name} --vm {vm}",
            )


def _recovery_hosts(request: CheckRequest, by_host: dict[str, HostFacts]) -> Iterator[Finding]:
    for side in request.pairings:
        for endpoint in side.hosts:
            facts = by_host.get(host_key(endpoint.host))
            if facts is None or facts.errors:
                continue
            host = endpoint.host
            if facts.replica_server is not None and not facts.replica_server.replication_enabled:
                yield Finding(
                    check="replica-server",
                    severity=Severity.ERROR,
                    subject=host,
                    message="the host is not a Replica server: replication to it fails",
                    fix="declare replica_server.enabled for the host and run `hvdr protect enable` (its preflight "
                    "configures the host), or Set-VMReplicationServer -ReplicationEnabled $true",
                )
            switches = {s.lower() for s in facts.switches}
            for mapping in side.mappings:
                wanted = [("network-mapping", mapping.target_network, "failover")]
                if mapping.test_network:
                    wanted.append(("test-network", mapping.test_network, "test failover"))
                for check, switch, use in wanted:
                    if switch.lower() not in switches:
                        yield Finding(
                            check=check,
                            severity=Severity.ERROR,
                            subject=host,
                            message=f"virtual switch {switch!r} (where {mapping.source_network} maps on {use}) "
                            "does not exist on this recovery host",
                            fix=f"create it on the host (New-VMSwitch -Name '{switch}' …) or correct the network "
                            "mapping in the topology and `hvdr apply` it",
                        )
            yield from _storage(request, side, host, facts, by_host)


def _storage(
    request: CheckRequest, side: RecoverySide, host: str, facts: HostFacts, by_host: dict[str, HostFacts]
) -> Iterator[Finding]:
    if facts.storage_free_bytes is None:
        return
    held = incoming = 0
    for spec in request.specs:
        if spec.primary_cloud != side.primary_cloud:
            continue
        primary = by_host.get(host_key(spec.primary.host))
        replication = next(
            (r for r in (primary.replication if primary else []) if r.vm_name.lower() == spec.vm.lower()), None
        )
        if replication is not None and same_host(replication.replica_server or "", host):
            held += spec.replicated_bytes
        elif replication is None and same_host(spec.replica.host, host):
            incoming += spec.replicated_bytes
    needed = int(held * STORAGE_MARGIN + incoming * (1 + STORAGE_MARGIN))
    if facts.storage_free_bytes < needed:
        yield Finding(
            check="replica-storage",
            severity=Severity.ERROR,
            subject=host,
            message=f"replica storage has {_gib(facts.storage_free_bytes)} free; it needs {_gib(needed)} "
            f"({int(STORAGE_MARGIN * 100)}% of the {_gib(held)} of replicas it holds, plus the "
            f"{_gib(incoming)} of replicas still to come with the same margin)",
            fix="free or extend the replica storage volume, or move replicas to another host of "
            f"cloud {side.recovery_cloud}",
        )


def _failover_ips(request: CheckRequest) -> Iterator[Finding]:
    vms = {vm.name.lower(): vm for vm in request.declared_vms}
    sides = {side.primary_cloud: side for side in request.pairings}
    for check in request.plans:
        side = sides.get(check.pairing)
        if side is None:
            continue
        changing = {}
        for m in side.mappings:
            if m.source_subnet and m.target_subnet:
                target = ipaddress.ip_network(m.target_subnet, strict=False)
                if ipaddress.ip_network(m.source_subnet, strict=False) != target:
                    changing[m.source_network.lower()] = (m, target)
        for name in (vm for group in check.plan.groups for vm in group.vms):
            vm = vms.get(name.lower())
            if vm is None:
                continue
            for adapter in vm.network_adapters:
                found = changing.get((adapter.switch or "").lower())
                if found is None:
                    continue
                mapping, target = found
                declared = adapter.failover_ipv4 if target.version == 4 else adapter.failover_ipv6
                subject = f"{check.plan.name}/{vm.name}"
                if declared is None:
                    yield Finding(
                        check="failover-ip",
                        severity=Severity.ERROR,
                        subject=subject,
                        message=f"adapter {adapter.name!r} on {mapping.source_network} moves from "
                        f"{mapping.source_subnet} to {mapping.target_subnet} on failover and has no failover IP: "
                        "the VM would come up unreachable",
                        fix=f"declare network_adapters[].failover_ipv{target.version} for {vm.name} in the "
                        f"topology (an address in {mapping.target_subnet}) and `hvdr apply` it",
                    )
                elif ipaddress.ip_address(declared.address) not in target:
                    yield Finding(
                        check="failover-ip",
                        severity=Severity.ERROR,
                        subject=subject,
                        message=f"failover IP {declared.address} of adapter {adapter.name!r} is not in "
                        f"{mapping.target_subnet}, the subnet {mapping.target_network} maps to",
                        fix=f"correct the failover IP of {vm.name} in the topology and `hvdr apply` it",
                    )


def _drills(request: CheckRequest, now: datetime) -> Iterator[Finding]:
    policies = {side.primary_cloud: side.policy for side in request.pairings}
    for check in request.plans:
        policy = policies.get(check.pairing)
        if policy is None:
            continue
        name = check.plan.name
        schedule = f'hvdr drill schedule --plan {name} --cron "0 3 * * 6"'
        if check.last_successful_drill is None:
            yield Finding(
                check="drill",
                severity=Severity.WARNING,
                subject=name,
                message="no drill recorded: nothing proves this plan recovers",
                fix=schedule,
            )
            continue
        age = now - check.last_successful_drill
        if age > timedelta(days=policy.drill_max_age_days):
            yield Finding(
                check="drill",
                severity=Severity.ERROR,
                subject=name,
                message=f"the last successful drill is {age.days} days old; policy {policy.name} allows "
                f"{policy.drill_max_age_days}",
                fix=schedule,
            )
