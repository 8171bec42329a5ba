"""Readiness reads on a site's worker: one activity per host gathers what `hvdr check` compares (reads only)."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from hvdr.activities.common import HostCalls
from hvdr.activities.hosts import Certificates, Hosts
from hvdr.errors import HvdrError
from hvdr.hyperv.models import ReplicationMode
from hvdr.readiness import CheckRequest, HostFacts, HostRead, ReplicaServerFacts, ReplicationFacts, ScheduledCheckInput


class CheckBook(Protocol):
    """The inventory as a scheduled check needs it."""

    def check_request(self, check_id: str, cloud: str | None, site: str | None, certificate_days: int) -> CheckRequest:
        """What to check (:func:`hvdr.inventory.readiness.check_request`); raises ``NotFound`` for an unknown cloud
        or site."""
        ...


class ResolveCheck(BaseModel):
    check_id: str
    scope: ScheduledCheckInput


class CheckLinks:
    """Registered on the workflow task queue's worker: a scheduled check resolves what to check from the inventory
    when it fires (the inventory may have changed since the schedule was made)."""

    def __init__(self, book: CheckBook) -> None:
        self.book = book

    @activity.defn(name="check_resolve")
    async def resolve(self, request: ResolveCheck) -> CheckRequest:
        scope = request.scope
        try:
            return self.book.check_request(request.check_id, scope.cloud, scope.site, scope.certificate_days)
        except HvdrError as exc:
            raise ApplicationError(str(exc), type="UnknownScope", non_retryable=True) from None


class ReadinessActivities:
    def __init__(self, hosts: Hosts, calls: HostCalls | None = None) -> None:
        self.hosts = hosts
        self.calls = calls or HostCalls(hosts)

    @activity.defn(name="read_host_readiness")
    async def read_host(self, read: HostRead) -> HostFacts:
        """The host's VMs and their replication, and on a recovery host its Replica server, virtual switches and
        replica storage; a read that fails is recorded in the facts (the check reports it), not retried."""
        facts = HostFacts(host=read.host)
        name = read.host
        try:
            if isinstance(self.hosts, Certificates):
                facts.certificate_not_after = await self.calls.run(name, self.hosts.certificate_not_after, name)
            host = await self.calls.host(name)
            wanted = {vm.lower() for vm in read.vms}
            for vm in await self.calls.run(name, host.list_vms):
                facts.present.append(vm.name)
                if vm.name.lower() in wanted and vm.replication_mode is ReplicationMode.PRIMARY:
                    replication = await self.calls.run(name, host.get_replication, vm.name)
                    facts.replication.append(ReplicationFacts.model_validate(replication))
            if read.recovery:
                server = await self.calls.run(name, host.get_replication_server)
                facts.replica_server = ReplicaServerFacts.model_validate(server)
                facts.switches = [switch.name for switch in await self.calls.run(name, host.list_switches)]
                if server.default_storage_location:
                    drive = await self.calls.run(name, host.get_drive_space, server.default_storage_location)
                    facts.storage_free_bytes = drive.free_bytes
        except ApplicationError as exc:
            facts.errors.append(exc.message)
        return facts
