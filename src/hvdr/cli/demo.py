"""``hvdr demo``: the main job end to end on embedded defaults, then exit.

It runs in its own corner — the Temporal namespace ``hvdr-demo`` and ``<HVDR_HOME>/demo`` for the lab's
endpoints and the inventory — so it never touches a real estate's runs or inventory, and can run again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hvdr.cli.common import guarded, run_async, say
from hvdr.cli.protect import print_statuses
from hvdr.cli.report import build_report, default_path, write_report
from hvdr.client import Client
from hvdr.errors import HvdrError
from hvdr.inventory.db import session_for
from hvdr.inventory.discovery import record_discovery
from hvdr.inventory.failover import failover_spec
from hvdr.protection import DisableRequest, Endpoint, Phase, ProtectionStatus
from hvdr.runtime.stack import local_stack
from hvdr.settings import Settings, load_settings

DEMO_NAMESPACE = "hvdr-demo"
DEMO_SPEED = 300.0
CLOUD = "cloud-a"
FAILOVER_VM = "db-01"


def demo_settings(settings: Settings) -> Settings:
    # The embedded server stays the user's (same database and state file), so the demo's runs show in its UI.
    temporal = settings.temporal.model_copy(update={"namespace": DEMO_NAMESPACE, "database": settings.temporal_db})
    return settings.model_copy(update={"home": settings.home / "demo", "temporal": temporal})


async def _demo(settings: Settings) -> None:
    demo = demo_settings(settings)
    step = iter(range(1, 20))

    def announce(text: str) -> None:
        say((f"{next(step)}.", "bold"), " ", text)

    async with local_stack(demo, lab=True, speed=DEMO_SPEED, apply=True, say=announce) as stack:
        client = stack.client
        await client.terminate_protections("a new demo run starts")  # the demo namespace only
        for site in stack.sites:
            result = await client.ping(site)
            announce(f"ping {site}: answered on {result.reply.task_queue} in {result.round_trip_ms:.0f} ms")
        found = await client.discover(stack.sites)
        with session_for(demo) as session:
            summary = record_discovery(session, found)
        announce(
            f"discovery: {summary.vms_found} VM copies through the VMM servers; "
            f"{len(summary.vms_updated)} inventory VMs confirmed"
        )
        rollout = await client.protect(cloud=CLOUD, time_scale=DEMO_SPEED)
        announce(f"protecting {len(rollout.runs)} VMs of {CLOUD} (one durable run each: protect/<vm>)")
        await client.wait_protected([r.vm for r in rollout.runs], timeout=300)
        await asyncio.sleep(2 * 300 / DEMO_SPEED)  # two copy cycles of host time: RPO reflects delta cycles
        statuses = [await client.protection_status(r.vm) for r in rollout.runs]
        print_statuses(statuses)
        replicating = sum(s.phase is Phase.REPLICATING for s in statuses)
        worst = max((s.rpo_s or 0.0) for s in statuses)
        announce(
            f"{replicating}/{len(statuses)} VMs replicating to site-b; worst RPO {worst:.0f} s "
            f"(policy copy frequency 300 s)"
        )
        await _failover_with_report(stack.client, stack.settings, statuses, announce)
        for status in statuses:
            await client.disable(status.vm, DisableRequest(delete_replica=False))
        announce("protection disabled again (replication removed on both hosts); the runs are complete")
        if replicating != len(statuses):
            raise HvdrError(f"only {replicating} of {len(statuses)} VMs reached Replicating")
    say(
        ("Demo complete.", "green"),
        f" Its runs are in the web UI ({stack.server.ui_url}, namespace "
        f"{DEMO_NAMESPACE}) while the server runs: `hvdr server start`.",
    )


async def _failover_with_report(
    client: Client, settings: Settings, statuses: list[ProtectionStatus], announce: Callable[[str], None]
) -> None:
    """A planned failover of one VM, and its HTML report written where `hvdr report` would put it."""
    status = next(s for s in statuses if s.vm == FAILOVER_VM)
    with session_for(settings) as session:
        spec = failover_spec(
            session,
            FAILOVER_VM,
            Endpoint(site=status.primary_site, host=status.primary_host),
            Endpoint(site=status.replica_site, host=status.replica_host),
            time_scale=DEMO_SPEED,
        )
    moved = await client.failover_planned(spec)
    built = await build_report(client, moved.workflow_id, settings)
    path = write_report(built, "html", default_path(settings, built.run_id))
    vm = built.vms[0]
    announce(
        f"planned failover of {FAILOVER_VM} to {moved.now_runs_on.host}: {moved.outcome.replace('_', ' ')}, "
        f"RTO {vm.rto_s or 0:.1f} s wall at {built.time_scale:g}x; HTML report: {path}"
    )
    if moved.outcome != "succeeded":
        raise HvdrError(f"the planned failover of {FAILOVER_VM} {moved.outcome}: {moved.error}")


@guarded
def demo() -> None:
    """Run the main job on this machine and exit: embedded Temporal, the lab (two sites, twelve VMs),
    the topology applied, site workers, ping and discovery per site, protection of a whole cloud until every
    VM replicates, the status table, a planned failover of db-01 with its HTML report (path printed), then
    protection disabled again."""
    run_async(_demo(load_settings()))
