"""The readiness rules on facts a host could report (the lab test covers them end to end over WinRM)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hvdr.hyperv.models import (
    AuthenticationType,
    ReplicationHealth,
    ReplicationInfo,
    ReplicationMode,
    ReplicationServerInfo,
    ReplicationState,
)
from hvdr.protection import Endpoint, ProtectionSpec
from hvdr.readiness import CheckRequest, HostFacts, PlanCheck, RecoverySide, Severity, evaluate
from hvdr.topology import default_topology

NOW = datetime(2026, 12, 1, tzinfo=UTC)
PRIMARY, RECOVERY = "hv-a1.site-a.lab.local", "hv-b1.site-b.lab.local"
GiB = 2**30


def _request(**changes: object) -> CheckRequest:
    topology = default_topology()
    policy = topology.policies[0]
    mapping = topology.network_mappings[0].model_copy(
        update={"source_subnet": "10.1.0.0/24", "target_subnet": "10.2.0.0/24"}
    )
    spec = ProtectionSpec(
        vm="db-01",
        primary=Endpoint(site="site-a", host=PRIMARY),
        replica=Endpoint(site="site-b", host=RECOVERY),
        primary_cloud="cloud-a",
        recovery_cloud="cloud-b",
        policy=policy,
        replicated_bytes=260 * GiB,
    )
    request = CheckRequest(
        check_id="t",
        pairings=[
            RecoverySide(
                primary_cloud="cloud-a",
                primary_site="site-a",
                recovery_cloud="cloud-b",
                recovery_site="site-b",
                policy=policy,
                hosts=[Endpoint(site="site-b", host=RECOVERY)],
                mappings=[mapping],
            )
        ],
        specs=[spec],
        declared_vms=[vm for vm in topology.vms if vm.name == "db-01"],
        plans=[PlanCheck(plan=topology.recovery_plans[0], pairing="cloud-a", last_successful_drill=NOW)],
    )
    return request.model_copy(update=changes)


def _replication(**changes: object) -> ReplicationInfo:
    values: dict[str, object] = {
        "vm_name": "db-01",
        "vm_id": uuid.uuid4(),
        "state": ReplicationState.REPLICATING,
        "health": ReplicationHealth.NORMAL,
        "mode": ReplicationMode.PRIMARY,
        "replica_server": RECOVERY,
        "replica_port": 80,
        "authentication_type": AuthenticationType.KERBEROS,
        "frequency_sec": 300,
        "recovery_history": 4,
        "vss_snapshot_frequency_hour": 1,
        "compression_enabled": True,
    }
    return ReplicationInfo.model_validate({**values, **changes})


def _facts(replication: ReplicationInfo | None = None, free: int = 1000 * GiB, **recovery: object) -> list[HostFacts]:
    return [
        HostFacts(host=PRIMARY, present=["db-01"], replication=[replication or _replication()]),
        HostFacts(
            host=RECOVERY,
            replica_server=ReplicationServerInfo(
                replication_enabled=True, default_storage_location="D:\\Hyper-V Replica"
            ),
            switches=["vSwitch-DR", "vSwitch-DR-Test"],
            storage_free_bytes=free,
        ).model_copy(update=recovery),
    ]


def test_a_healthy_replicated_vm_with_a_recent_drill_has_no_finding() -> None:
    assert evaluate(_request(), _facts(), NOW) == []


def test_critical_health_asks_for_a_resync_and_an_initial_copy_is_only_a_warning() -> None:
    [finding] = evaluate(_request(), _facts(_replication(health=ReplicationHealth.CRITICAL)), NOW)
    assert (finding.check, finding.severity, finding.fix) == (
        "vm-health",
        Severity.ERROR,
        "hvdr protect resync --vm db-01",
    )
    settling = _replication(state=ReplicationState.INITIAL_REPLICATION_IN_PROGRESS, health=ReplicationHealth.WARNING)
    [finding] = evaluate(_request(), _facts(settling), NOW)
    assert (finding.check, finding.severity) == ("vm-health", Severity.WARNING)


def test_a_failover_ip_outside_the_target_subnet_is_an_error() -> None:
    request = _request()
    adapter = request.declared_vms[0].network_adapters[0]
    assert adapter.failover_ipv4 is not None
    adapter.failover_ipv4.address = "10.9.0.11"
    [finding] = evaluate(request, _facts(), NOW)
    assert (finding.check, finding.subject) == ("failover-ip", "three-tier/db-01")
    assert "10.9.0.11" in finding.message and "10.2.0.0/24" in finding.message


def test_an_unreadable_host_is_one_finding_and_its_other_checks_are_skipped() -> None:
    facts = [HostFacts(host=PRIMARY, errors=["WinRM timed out"]), _facts()[1]]
    [finding] = evaluate(_request(), facts, NOW)
    assert (finding.check, finding.subject, finding.severity) == ("host-read", PRIMARY, Severity.ERROR)
    assert "WinRM timed out" in finding.message


def test_replica_storage_keeps_a_tenth_of_what_it_holds_free() -> None:
    assert evaluate(_request(), _facts(free=27 * GiB), NOW) == []
    [finding] = evaluate(_request(), _facts(free=25 * GiB), NOW)
    assert (finding.check, finding.subject) == ("replica-storage", RECOVERY)
    assert "25 GiB free" in finding.message and "needs 26 GiB" in finding.message


def test_an_expired_certificate_says_so() -> None:
    facts = _facts()
    facts[1].certificate_not_after = NOW - timedelta(days=3)
    [finding] = evaluate(_request(), facts, NOW)
    assert (finding.check, finding.subject) == ("winrm-certificate", RECOVERY)
    assert "expired 3 day(s) ago" in finding.message
