"""Discovery against the lab: every VM found with its host and cloud, through VMM or through the hosts."""

from __future__ import annotations

import pytest

from hvdr.inventory import queries
from hvdr.inventory.apply import apply_topology
from hvdr.inventory.db import session_for
from hvdr.inventory.discovery import record_discovery
from hvdr.topology import default_topology
from tests.e2e.conftest import Estate

pytestmark = pytest.mark.slow


async def test_discovery_through_vmm_finds_every_vm_with_its_host_and_cloud(estate: Estate) -> None:
    results = await estate.client.discover(["site-a", "site-b"])
    assert {r.site: r.source for r in results} == {
        "site-a": "vmm-a.site-a.lab.local",
        "site-b": "vmm-b.site-b.lab.local",
    }
    with session_for(estate.settings) as session:
        summary = record_discovery(session, results)
        vms = {v["name"]: v for v in queries.vms(session)}
    assert summary.vms_found == 12 and sorted(summary.vms_updated) == sorted(vms)
    truth = {row["name"]: row for row in estate.control("GET", "/vms")}
    for name, vm in vms.items():
        assert vm["vm_id"] == truth[name]["id"], name
        assert vm["cloud"] == "cloud-a" and vm["site"] == "site-a", vm
        assert vm["power_state"] == "Running"
    assert {r.site: sorted(h.cloud or "" for h in r.hosts) for r in results} == {
        "site-a": ["cloud-a", "cloud-a"],
        "site-b": ["cloud-b", "cloud-b"],
    }


async def test_discovery_without_vmm_asks_the_hosts(estate: Estate) -> None:
    topology = default_topology()
    topology.vmm_servers = [v for v in topology.vmm_servers if v.site != "site-a"]
    for cloud in topology.clouds:
        if cloud.site == "site-a":
            cloud.vmm_server = None
    with session_for(estate.settings) as session:
        apply_topology(session, topology)
    results = await estate.client.discover(["site-a"])
    assert results[0].source == "hosts" and results[0].errors == []
    with session_for(estate.settings) as session:
        summary = record_discovery(session, results)
        vms = {v["name"]: v for v in queries.vms(session)}
    assert summary.vms_found == 12
    assert {v["discovered_at"] is not None for v in vms.values()} == {True}
    assert {v["replication_mode"] for v in vms.values()} == {"None"}
    assert vms["db-01"]["host"] == "hv-a1.site-a.lab.local" and vms["db-01"]["cloud"] == "cloud-a"
