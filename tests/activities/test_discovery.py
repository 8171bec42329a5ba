"""Discovery's activity over the in-process lab: from the site's VMM server where it has one, else host by host."""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from hvdr.activities.discovery import DiscoveryActivities
from hvdr.topology import default_topology
from tests.workflows.lab_hosts import A1, LabHosts, lab_topology


async def test_a_site_with_a_vmm_server_is_discovered_from_it() -> None:
    lab = LabHosts(default_topology())
    site = await ActivityEnvironment().run(DiscoveryActivities(lab).discover_site, "site-a")
    assert site.source == "vmm-a.site-a.lab.local" and site.clouds == ["cloud-a"]
    assert len(site.vms) == 12 and {vm.cloud for vm in site.vms} == {"cloud-a"}
    assert lab.calls("Get-SCVirtualMachine") == 1 and lab.calls("Get-VM") == 0


async def test_a_site_without_one_is_discovered_host_by_host_and_a_host_down_is_reported_not_fatal() -> None:
    lab = LabHosts(lab_topology(["db-01", "app-01"]))
    site = await ActivityEnvironment().run(DiscoveryActivities(lab).discover_site, "site-a")
    assert site.source == "hosts" and [h.name for h in site.hosts] == [A1]
    assert sorted(vm.name for vm in site.vms) == ["app-01", "db-01"] and site.errors == []
    lab.backend.add_fault("host_down", host=A1)
    down = await ActivityEnvironment().run(DiscoveryActivities(lab).discover_site, "site-a")
    assert down.vms == [] and down.errors and down.errors[0].startswith(f"{A1}: ")
