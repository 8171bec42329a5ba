"""Discovery on a site's worker: hosts, VMs and cloud membership from the site's VMM server, or from the
Hyper-V hosts directly where the site has none."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from hvdr.activities.common import HostCalls
from hvdr.activities.hosts import Hosts
from hvdr.hyperv.protocol import VMMServer
from hvdr.models import DiscoveredHost, DiscoveredSite, DiscoveredVM


class DiscoveryActivities:
    def __init__(self, hosts: Hosts, calls: HostCalls | None = None) -> None:
        self.calls = calls or HostCalls(hosts)

    @activity.defn(name="discover_site")
    async def discover_site(self, site: str) -> DiscoveredSite:
        vmm = await self.calls.vmm(site)
        if vmm is not None:
            return await self._from_vmm(site, vmm)
        return await self._from_hosts(site)

    async def _from_vmm(self, site: str, vmm: VMMServer) -> DiscoveredSite:
        clouds = await self.calls.run(vmm.name, vmm.list_clouds)
        hosts = await self.calls.run(vmm.name, vmm.list_hosts)
        vms = await self.calls.run(vmm.name, vmm.list_vms)
        cloud_of_group = {path.lower(): cloud.name for cloud in clouds for path in cloud.host_group_paths}
        host_cloud = {h.name.lower(): cloud_of_group.get((h.host_group_path or "").lower()) for h in hosts}
        return DiscoveredSite(
            site=site,
            source=vmm.name,
            clouds=[c.name for c in clouds],
            hosts=[DiscoveredHost(name=h.name, cloud=host_cloud.get(h.name.lower())) for h in hosts],
            vms=[
                DiscoveredVM(
                    name=vm.name,
                    host=vm.host_name or "",
                    vm_id=str(vm.vm_id),
                    power_state=vm.status,
                    cloud=vm.cloud_name or host_cloud.get((vm.host_name or "").lower()),
                )
                for vm in vms
            ],
        )

    async def _from_hosts(self, site: str) -> DiscoveredSite:
        declared = await self.calls.site_hosts(site)
        result = DiscoveredSite(site=site, source="hosts", hosts=declared)
        for spec in declared:
            try:
                host = await self.calls.host(spec.name)
                vms = await self.calls.run(spec.name, host.list_vms)
            except ApplicationError as exc:  # one unreachable host must not hide the others
                result.errors.append(f"{spec.name}: {exc.message}")
                continue
            for vm in vms:
                result.vms.append(
                    DiscoveredVM(
                        name=vm.name,
                        host=spec.name,
                        vm_id=str(vm.id),
                        power_state=vm.state.value,
                        replication_mode=vm.replication_mode.value,
                        replication_state=vm.replication_state,
                        cloud=spec.cloud,
                    )
                )
        return result
