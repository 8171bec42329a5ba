"""Which workflows and activities run where. The only place registrations are listed; tests reuse it.

Workflows run on the shared workflow task queue (any worker may run any workflow: they only decide).
Activities that touch a site's hosts run on that site's queue, ``hvdr-site-<site>``, polled only by the
workers that sit in (or can reach) that site.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hvdr.activities.common import HostCalls
from hvdr.activities.discovery import DiscoveryActivities
from hvdr.activities.hosts import Hosts
from hvdr.activities.ping import ping_site
from hvdr.activities.protection import ProtectionActivities
from hvdr.workflows.discovery import DiscoveryWorkflow
from hvdr.workflows.ping import PingWorkflow
from hvdr.workflows.protection import ProtectionWorkflow

WORKFLOWS: Sequence[type] = (PingWorkflow, DiscoveryWorkflow, ProtectionWorkflow)


def site_activities(hosts: Hosts, calls: HostCalls | None = None) -> list[Callable[..., Any]]:
    """Every activity a site worker runs, bound to that worker's hosts (the host directory, or a fake in tests).

    Pass one ``calls`` to every site's list so that the per-host limits hold across the worker's task queues.
    """
    calls = calls or HostCalls(hosts)
    protection = ProtectionActivities(hosts, calls)
    return [
        ping_site,
        DiscoveryActivities(hosts, calls).discover_site,
        protection.ensure_replica_server,
        protection.test_replication_connection,
        protection.enable_replication,
        protection.start_initial_replication,
        protection.import_initial_replication,
        protection.measure_replication,
        protection.suspend_replication,
        protection.resume_replication,
        protection.resynchronize_replication,
        protection.update_replication,
        protection.remove_replication,
        protection.delete_vm,
    ]
