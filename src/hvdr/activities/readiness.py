"""Readiness reads on a site's worker: one activity per host gathers what `hvdr check` compares (reads only)."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from hvdr.activities.common import call
from hvdr.hyperv.models import ReplicationMode
from hvdr.readiness import HostFacts, HostRead
from hvdr.worker.hosts import HostDirectory


class ReadinessActivities:
    def __init__(self, hosts: HostDirectory) -> None:
        self.hosts = hosts

    @activity.defn(name="read_host_readiness")
    async def read_host(self, read: HostRead) -> HostFacts:
        """The host's VMs and their replication, and on a recovery host its Replica server, virtual switches and
        replica storage; a read that fails is recorded in the facts (the check reports it), not retried."""
        facts = HostFacts(host=read.host)
        try:
            facts.certificate_not_after = await call(self.hosts.certificate_not_after, read.host)
            host = await call(self.hosts.host, read.host)
            wanted = {name.lower() for name in read.vms}
            for vm in await call(host.list_vms):
                facts.present.append(vm.name)
                if vm.name.lower() in wanted and vm.replication_mode is ReplicationMode.PRIMARY:
                    facts.replication.append(await call(host.get_replication, vm.name))
            if read.recovery:
                server = facts.replica_server = await call(host.get_replication_server)
                facts.switches = [switch.name for switch in await call(host.list_switches)]
                if server.default_storage_location:
                    drive = await call(host.get_drive_space, server.default_storage_location)
                    facts.storage_free_bytes = drive.free_bytes
        except ApplicationError as exc:
            facts.errors.append(exc.message)
        return facts
