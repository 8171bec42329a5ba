"""From the inventory to a test failover spec: the mapped test network, the failover IP and the policy's RPO.

Where the VM runs and where its replica is come from its protection run (the live direction); the inventory adds
what the topology declares: the test network of the VM's network mapping towards the replica's site, and the
policy whose RPO threshold says what "production replication within its normal range" means.
"""

from __future__ import annotations

from sqlmodel import Session, select

from hvdr.inventory import queries
from hvdr.inventory.failover import failover_spec
from hvdr.inventory.tables import NetworkMappingRow, VMRow
from hvdr.protection import Endpoint
from hvdr.testfailover import RecoveryPointChoice, TestFailoverSpec
from hvdr.topology import VM, NetworkMapping


def testfailover_spec(
    session: Session,
    vm: str,
    source: Endpoint,
    target: Endpoint,
    *,
    policy: str | None = None,
    point: RecoveryPointChoice | None = None,
    keep_s: float | None = None,
    time_scale: float = 1.0,
) -> TestFailoverSpec:
    planned = failover_spec(session, vm, source, target, time_scale=time_scale)
    row = session.get(VMRow, vm)
    assert row is not None  # failover_spec raised NotFound otherwise
    declared = VM.model_validate(row.spec)
    switches = {a.switch for a in declared.network_adapters if a.switch}
    mappings = [NetworkMapping.model_validate(r.spec) for r in session.exec(select(NetworkMappingRow)).all()]
    # The mapping of the VM's network towards the replica's site names the test network. None after a failover
    # (the replica is back home, where no test network is declared): the test VM then stays unconnected.
    test_network = next(
        (
            m.test_network
            for m in mappings
            if m.test_network
            and m.source_network in switches
            and m.source_site in (None, source.site)
            and m.target_site in (None, target.site)
        ),
        None,
    )
    threshold: float | None = None
    sample_s = 300.0
    if policy:
        declared_policy = queries.policy(session, policy)
        threshold = float(declared_policy.rpo_alert_threshold_s)
        sample_s = float(max(declared_policy.copy_frequency_s, 30))
    return TestFailoverSpec(
        vm=vm,
        source=source,
        target=target,
        test_network=test_network,
        failover_ip=planned.failover_ip,
        point=point or RecoveryPointChoice(),
        keep_s=keep_s,
        boot_timeout_s=planned.boot_timeout_s,
        rpo_threshold_s=threshold,
        rpo_sample_s=sample_s,
        time_scale=time_scale,
    )
