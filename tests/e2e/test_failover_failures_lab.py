"""A failure injected at each step after the guest's shutdown (prepare, fail over, connect, start, verify,
reverse) is undone in reverse order and the source runs and replicates again. One estate for the module (each
case on its own VM); its workers must not overlap another module's, so these cases live apart."""

from __future__ import annotations

from typing import Any

import pytest

from hvdr.failover import Step
from hvdr.protection import Phase
from tests.e2e.conftest import Estate
from tests.e2e.test_failover_lab import _assert_rolled_back, _fault, _spec
from tests.e2e.test_protection_lab import _protect, _wait

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def failures(shared_estate: Estate) -> Estate:
    """One estate for the failure cases, each on its own VM, protected together."""
    vms = [vm for vm, *_ in FAILURES]
    await _protect(shared_estate, vms=vms)
    await shared_estate.client.wait_protected(vms, timeout=300)
    return shared_estate


FAILURES = [
    # vm, the fault (kind, on the source or the target host, params), the step that fails, what the error says,
    # the Stop-VMFailover calls the rollback needs (a step that failed before it changed anything has nothing to
    # cancel: the prepare's is only sent once the source is PreparedForFailover).
    ("web-01", ("cmdlet_error", "source", {"cmdlet": "Start-VMFailover"}), Step.PREPARE, "operation failed", 0),
    ("web-03", ("cmdlet_error", "target", {"cmdlet": "Start-VMFailover"}), Step.FAILOVER, "operation failed", 1),
    ("web-04", ("cmdlet_error", "target", {"cmdlet": "Connect-VMNetworkAdapter"}), Step.CONNECT, "operation", 2),
    ("web-05", ("cmdlet_error", "target", {"cmdlet": "Start-VM"}), Step.START, "operation failed", 2),
    ("web-06", ("integration_services_off", "target", {"vm": "web-06"}), Step.VERIFY, "no heartbeat", 2),
    ("app-04", ("slow_boot", "target", {"vm": "app-04", "seconds": 1200}), Step.VERIFY, "no heartbeat", 2),
    ("app-01", ("storage_full", "source", {}), Step.REVERSE, "reverse", 2),  # the old source takes the replica
]


@pytest.mark.parametrize(
    ("vm", "fault", "failed", "says", "stopped"), FAILURES, ids=[f"{f[2].value}-{f[1][0]}" for f in FAILURES]
)
async def test_a_failure_after_the_shutdown_is_undone_and_the_source_runs_again(
    failures: Estate, vm: str, fault: tuple[str, str, dict[str, Any]], failed: Step, says: str, stopped: int
) -> None:
    estate = failures
    await _wait(estate, [vm], lambda s: s.phase is Phase.REPLICATING and s.replication_state == "Replicating")
    spec = _spec(estate, vm)
    kind, where, params = fault
    fault_id = _fault(estate, kind, host=(spec.source if where == "source" else spec.target).host, **params)
    try:
        report = await estate.client.failover_planned(spec)
    finally:
        estate.control("DELETE", f"/faults/{fault_id}")
    _assert_rolled_back(estate, report, vm, failed)
    assert says in (report.error or "").lower(), report.error
    assert [r.step for r in report.steps][-1] is failed and report.steps[-1].outcome == "failed", report.steps
    assert estate.calls("Stop-VMFailover", vm) == stopped, report.undone
    assert estate.calls("Start-VM", vm) == (2 if failed in (Step.VERIFY, Step.REVERSE) else 1), report.undone
    status = await _wait(estate, [vm], lambda s: s.phase is Phase.REPLICATING)
    assert status[0].primary_host == spec.source.host
