"""Which workflows and activities run where. The only place registrations are listed; tests reuse it.

Workflows run on the shared workflow task queue (any worker may run any workflow: they only decide).
Activities that touch a site's hosts run on that site's queue, ``hvdr-site-<site>``, polled only by the
workers that sit in (or can reach) that site.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client as TemporalClient

from hvdr.activities.actions import ActionActivities
from hvdr.activities.common import HostCalls
from hvdr.activities.discovery import DiscoveryActivities
from hvdr.activities.drill import DrillLinks
from hvdr.activities.failover import FailoverActivities, Placements
from hvdr.activities.hosts import Hosts
from hvdr.activities.ping import ping_site
from hvdr.activities.plan import PlanActivities, PlanLinks
from hvdr.activities.protection import ProtectionActivities
from hvdr.activities.readiness import CheckLinks, ReadinessActivities
from hvdr.activities.runs import RunLinks
from hvdr.activities.testfailover import TestFailoverActivities, TestFailoverLinks
from hvdr.activities.unplanned import UnplannedActivities
from hvdr.settings import Settings
from hvdr.worker.drills import InventoryDrills
from hvdr.workflows.discovery import DiscoveryWorkflow
from hvdr.workflows.drill import DrillWorkflow
from hvdr.workflows.failover import PlannedFailoverWorkflow
from hvdr.workflows.monitor import MonitorWorkflow
from hvdr.workflows.ping import PingWorkflow
from hvdr.workflows.plan import PlanWorkflow
from hvdr.workflows.protection import ProtectionWorkflow
from hvdr.workflows.readiness import CheckWorkflow, ScheduledCheckWorkflow
from hvdr.workflows.testfailover import TestFailoverWorkflow
from hvdr.workflows.unplanned import RecoveryPointsWorkflow, ReverseReplicationWorkflow, UnplannedFailoverWorkflow

WORKFLOWS: Sequence[type] = (
    PingWorkflow,
    DiscoveryWorkflow,
    ProtectionWorkflow,
    MonitorWorkflow,
    CheckWorkflow,
    ScheduledCheckWorkflow,
    PlannedFailoverWorkflow,
    PlanWorkflow,
    TestFailoverWorkflow,
    DrillWorkflow,
    UnplannedFailoverWorkflow,
    ReverseReplicationWorkflow,
    RecoveryPointsWorkflow,
)


def workflow_activities(client: TemporalClient, settings: Settings | None = None) -> list[Callable[..., Any]]:
    """Activities of the workflow task queue: they touch no host, only other runs (through Temporal) and, for
    drills and scheduled checks, the inventory of ``settings`` (default: the loaded settings)."""
    links = RunLinks(client)
    inventory = InventoryDrills(settings)
    drills = DrillLinks(client, inventory)
    return [
        links.stand_by,
        links.go_on,
        links.protected,
        PlanLinks(links, TestFailoverLinks(client)).links,
        links.watch,
        links.unwatch,
        TestFailoverLinks(client).check_operations,
        drills.resolve,
        drills.record,
        CheckLinks(inventory).resolve,
    ]


def site_activities(
    hosts: Hosts, calls: HostCalls | None = None, placements: Placements | None = None
) -> list[Callable[..., Any]]:
    """Every activity a site worker runs, bound to that worker's hosts (the host directory, or a fake in tests).

    Pass one ``calls`` to every site's list so that the per-host limits hold across the worker's task queues.
    ``placements`` records where a failed-over VM now runs; by default the hosts object, when it keeps the
    inventory (the worker's host directory does).
    """
    calls = calls or HostCalls(hosts)
    protection = ProtectionActivities(hosts, calls)
    if placements is None and isinstance(hosts, Placements):
        placements = hosts
    failover = FailoverActivities(hosts, calls, placements)
    test = TestFailoverActivities(hosts, calls)
    unplanned = UnplannedActivities(hosts, calls, placements)
    return [
        ping_site,
        DiscoveryActivities(hosts, calls).discover_site,
        protection.ensure_replica_server,
        protection.test_replication_connection,
        protection.enable_replication,
        protection.start_initial_replication,
        protection.import_initial_replication,
        protection.measure_replication,
        protection.measure_host,
        protection.suspend_replication,
        protection.resume_replication,
        protection.resynchronize_replication,
        protection.update_replication,
        protection.remove_replication,
        protection.delete_vm,
        ReadinessActivities(hosts, calls).read_host,
        failover.check_source,
        failover.check_target,
        failover.shut_down,
        failover.prepare,
        failover.fail_over,
        failover.connect,
        failover.start_vm,
        failover.verify,
        failover.reverse,
        failover.record_placement,
        failover.stop_failover,
        PlanActivities(failover).host_step,
        ActionActivities(hosts, calls).run_script,
        test.prepare_replica,
        test.start,
        test.remove,
        test.confirm,
        unplanned.recovery_points,
        unplanned.check_replica,
        unplanned.probe,
        unplanned.fence,
        unplanned.fail_over_from,
        unplanned.complete,
        unplanned.as_replica,
    ]
