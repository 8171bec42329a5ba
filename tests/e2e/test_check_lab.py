"""`hvdr check` against the lab: ready (a drill warning only) on the healthy, replicated default estate; not
ready, with the right finding and its fix, on each of ten seeded misconfigurations."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import delete

from hvdr.activities.protection import replication_settings
from hvdr.hyperv.models import ReplicationUpdate
from hvdr.inventory.apply import apply_topology
from hvdr.inventory.db import session_for
from hvdr.inventory.protection import protection_spec, vms_to_protect
from hvdr.inventory.readiness import DRILL_KIND, DRILL_SUCCEEDED
from hvdr.inventory.tables import RunRecordRow
from hvdr.protection import ProtectionSpec
from hvdr.readiness import CHECKS_FAILED_EXIT
from hvdr.topology import default_topology
from tests.cli.helpers import hvdr
from tests.e2e.conftest import Estate

pytestmark = pytest.mark.slow

RECOVERY_HOST = "hv-b1.site-b.lab.local"


def _specs(estate: Estate) -> dict[str, ProtectionSpec]:
    with session_for(estate.settings) as session:
        return {name: protection_spec(session, name) for name in vms_to_protect(session, None, "cloud-a")}


async def _replicate(estate: Estate, specs: list[ProtectionSpec]) -> None:
    """Replication as `hvdr protect enable` leaves it (policy settings, initial copy), without its runs, so that
    no protection run heals what the test breaks."""

    def enable() -> None:
        for spec in specs:
            host = estate.hosts.host(spec.primary.host)
            settings = replication_settings(spec)
            if spec.excluded_vhd_paths:  # declared by file name; Enable-VMReplication wants the disk's path
                paths = {path.rsplit("\\", 1)[-1].lower(): path for path in host.get_vm(spec.vm).hard_drive_paths}
                excluded = [paths.get(name.lower(), name) for name in spec.excluded_vhd_paths]
                settings = settings.model_copy(update={"excluded_vhd_paths": excluded})
            host.enable_replication(spec.vm, settings)
            host.start_initial_replication(spec.vm)

    await asyncio.to_thread(enable)
    deadline = time.monotonic() + 120
    names = {spec.vm for spec in specs}
    while True:
        rows = [r for r in estate.control("GET", "/vms") if r["name"] in names and r["replication_mode"] == "Primary"]
        if len(rows) == len(names) and all(
            r["replication_state"] == "Replicating" and r["replication_health"] == "Normal" for r in rows
        ):
            return
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.5)


async def _check(*args: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k.startswith("HVDR_")}
    result = await asyncio.to_thread(hvdr, "check", "-o", "json", *args, env=env)
    assert "Traceback" not in result.err, result.err
    return result.code, json.loads(result.out)


def _errors(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["check"], f["subject"]) for f in report["findings"] if f["severity"] == "error"}


async def _assert_not_ready(expected: set[tuple[str, str]], *args: str) -> list[dict[str, Any]]:
    code, report = await _check(*args)
    assert code == CHECKS_FAILED_EXIT, report
    assert not report["ready"]
    assert _errors(report) == expected, report["findings"]
    found = [f for f in report["findings"] if (f["check"], f["subject"]) in expected]
    assert all(f["message"] and f["fix"] for f in found)
    return found


@contextmanager
def _switch_removed(estate: Estate, host: str, switch: str) -> Iterator[None]:
    """The switch is deleted on the host (as Remove-VMSwitch would), then recreated."""
    backend = estate.lab.backend
    with backend.lock:
        lab_host = backend.host(host)
        assert lab_host is not None
        removed = lab_host.switch(switch)
        assert removed is not None
        lab_host.switches.remove(removed)
    try:
        yield
    finally:
        with backend.lock:
            lab_host.switches.append(removed)


async def _on_host(estate: Estate, spec: ProtectionSpec, action: Callable[[Any], object]) -> None:
    await asyncio.to_thread(lambda: action(estate.hosts.host(spec.primary.host)))


async def test_check_is_ready_on_the_healthy_estate_and_names_each_seeded_misconfiguration(estate: Estate) -> None:
    specs = _specs(estate)
    assert len(specs) == 12

    # Nothing replicates yet: every VM of the paired cloud is an error whose fix protects it.
    code, report = await _check()
    assert code == CHECKS_FAILED_EXIT
    assert _errors(report) == {("vm-protected", name) for name in specs}
    assert {f["fix"] for f in report["findings"] if f["check"] == "vm-protected"} == {
        f"hvdr protect enable --vm {name}" for name in specs
    }

    await _replicate(estate, list(specs.values()))
    code, report = await _check()
    assert code == 0, report["findings"]
    assert report["ready"] and report["vms"] == 12 and report["hosts"] == 4 and report["plans"] == 1
    assert [(f["check"], f["severity"], f["subject"]) for f in report["findings"]] == [
        ("drill", "warning", "three-tier")
    ]
    assert report["findings"][0]["fix"].startswith("hvdr drill schedule --plan three-tier")

    # 1. VM not protected: its replication was removed on the host.
    await _on_host(estate, specs["web-06"], lambda h: h.remove_replication("web-06"))
    await _assert_not_ready({("vm-protected", "web-06")})

    def remove_replica(replica: Any) -> None:  # so that replication can be enabled again
        replica.remove_replication("web-06")
        replica.remove_vm("web-06")

    await asyncio.to_thread(remove_replica, estate.hosts.host(specs["web-06"].replica.host))
    await _replicate(estate, [specs["web-06"]])

    # 2. Replication suspended (health Warning/Critical with it).
    await _on_host(estate, specs["app-01"], lambda h: h.suspend_replication("app-01"))
    [finding] = await _assert_not_ready({("vm-health", "app-01")})
    assert finding["fix"] == "hvdr protect resume --vm app-01"
    await _on_host(estate, specs["app-01"], lambda h: h.resume_replication("app-01"))

    # 3. Replication frequency differs from the policy (300 s).
    await _on_host(estate, specs["app-02"], lambda h: h.set_replication("app-02", ReplicationUpdate(frequency_sec=900)))
    [finding] = await _assert_not_ready({("policy", "app-02")})
    assert "900" in finding["message"] and "300" in finding["message"]
    await _on_host(estate, specs["app-02"], lambda h: h.set_replication("app-02", ReplicationUpdate(frequency_sec=300)))

    # 4. Compression differs from the policy.
    await _on_host(
        estate, specs["web-01"], lambda h: h.set_replication("web-01", ReplicationUpdate(compression_enabled=False))
    )
    [finding] = await _assert_not_ready({("policy", "web-01")})
    assert "compression" in finding["message"] and finding["fix"] == "hvdr protect policy standard-5min --vm web-01"
    await _on_host(
        estate, specs["web-01"], lambda h: h.set_replication("web-01", ReplicationUpdate(compression_enabled=True))
    )

    # 5. The mapped switch is missing on a recovery host.
    with _switch_removed(estate, RECOVERY_HOST, "vSwitch-DR"):
        [finding] = await _assert_not_ready({("network-mapping", RECOVERY_HOST)})
        assert "vSwitch-DR" in finding["message"]

    # 6. The test switch is missing on a recovery host.
    with _switch_removed(estate, RECOVERY_HOST, "vSwitch-DR-Test"):
        [finding] = await _assert_not_ready({("test-network", RECOVERY_HOST)})
        assert "vSwitch-DR-Test" in finding["message"]

    # 7. The mapping changes subnet and plan VMs have no failover IP (db-01 declares one, the others do not).
    changed = default_topology()
    changed.network_mappings[0].source_subnet = "10.1.0.0/24"
    changed.network_mappings[0].target_subnet = "10.2.0.0/24"
    with session_for(estate.settings) as session:
        apply_topology(session, changed)
    await _assert_not_ready({("failover-ip", f"three-tier/{name}") for name in specs if name != "db-01"})
    with session_for(estate.settings) as session:
        apply_topology(session, default_topology())

    # 8. The last successful drill is older than the policy allows (30 days).
    with session_for(estate.settings) as session:
        session.add(
            RunRecordRow(
                kind=DRILL_KIND,
                subject="three-tier",
                workflow_id="drill/three-tier/1",
                started_by="test",
                started_at=datetime.now(UTC) - timedelta(days=45, hours=1),
                finished_at=datetime.now(UTC) - timedelta(days=45),
                outcome=DRILL_SUCCEEDED,
            )
        )
        session.commit()
    [finding] = await _assert_not_ready({("drill", "three-tier")})
    assert "45 days" in finding["message"]
    with session_for(estate.settings) as session:
        session.exec(delete(RunRecordRow))  # type: ignore[call-overload]
        session.commit()

    # 9. The recovery host's replica storage is full.
    fault = estate.control("POST", "/faults", {"kind": "storage_full", "host": RECOVERY_HOST})
    try:
        found = await _assert_not_ready_including(("replica-storage", RECOVERY_HOST))
        assert "0 GiB free" in found["message"]
    finally:
        estate.control("DELETE", f"/faults/{fault['id']}")


async def _assert_not_ready_including(expected: tuple[str, str]) -> dict[str, Any]:
    """A full replica volume also fails the replication cycles into it: those VMs' health findings may join."""
    code, report = await _check()
    assert code == CHECKS_FAILED_EXIT, report
    assert expected in _errors(report), report["findings"]
    assert {check for check, _ in _errors(report)} <= {"replica-storage", "vm-health"}
    return next(f for f in report["findings"] if (f["check"], f["subject"]) == expected)


@pytest.mark.parametrize("estate", [{"https": True}], indirect=True)
async def test_check_names_a_winrm_certificate_expiring_within_the_window(estate: Estate) -> None:
    """10. The lab's HTTPS listeners present a certificate valid for 30 days: within a 45-day window, every host
    is an error; with the default window (14 days) none is."""
    code, report = await _check("--certificate-days", "45")
    assert code == CHECKS_FAILED_EXIT
    expiring = {f["subject"] for f in report["findings"] if f["check"] == "winrm-certificate"}
    assert expiring == {h.fqdn for h in default_topology().hosts}
    code, report = await _check()
    assert not [f for f in report["findings"] if f["check"] == "winrm-certificate"]
