"""``hvdr demo``: the main job end to end on embedded defaults, then exit.

It runs in its own corner — the Temporal namespace ``hvdr-demo`` and ``<HVDR_HOME>/demo`` for the lab's
endpoints and the inventory — so it never touches a real estate's runs or inventory, and can run again.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from hvdr.cli.common import guarded, run_async, say
from hvdr.cli.plan import print_report as print_plan_report
from hvdr.cli.protect import print_statuses
from hvdr.cli.report import build_report, default_path, write_report
from hvdr.cli.testfailover import print_test_report
from hvdr.client import Client
from hvdr.errors import HvdrError
from hvdr.inventory import queries
from hvdr.inventory.db import session_for
from hvdr.inventory.discovery import record_discovery
from hvdr.inventory.plan import declared_plan, plan_spec
from hvdr.plan import PlanSpec
from hvdr.protection import DisableRequest, Phase
from hvdr.runtime.stack import local_stack
from hvdr.settings import Settings, load_settings

DEMO_NAMESPACE = "hvdr-demo"
DEMO_SPEED = 300.0
CLOUD = "cloud-a"
TIER = "db"
PLAN = "three-tier"


def demo_settings(settings: Settings) -> Settings:
    # The embedded server stays the user's (same database and state file), so the demo's runs show in its UI.
    temporal = settings.temporal.model_copy(update={"namespace": DEMO_NAMESPACE, "database": settings.temporal_db})
    return settings.model_copy(update={"home": settings.home / "demo", "temporal": temporal})


async def _demo(settings: Settings) -> None:
    demo = demo_settings(settings)
    step = itertools.count(1)

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
        # As visibility lists them: on a loaded machine queries of twelve protection runs can time out.
        protected = {r.vm for r in rollout.runs}
        statuses = [s for s in await client.protection_statuses() if s.vm in protected]
        print_statuses(statuses)
        replicating = sum(s.phase is Phase.REPLICATING for s in statuses)
        worst = max((s.rpo_s or 0.0) for s in statuses)
        announce(
            f"{replicating}/{len(statuses)} VMs replicating to site-b; worst RPO {worst:.0f} s "
            f"(policy copy frequency 300 s)"
        )
        if replicating != len(statuses):
            raise HvdrError(f"only {replicating} of {len(statuses)} VMs reached Replicating")
        await _test_failover(client, stack.settings, announce)
        # The stack's settings know the lab (its endpoints): the reports attach the checksums it measured.
        await _plan_over_and_back(client, stack.settings, announce)
        for status in statuses:
            await client.disable(status.vm, DisableRequest(delete_replica=False))
        announce("protection disabled again (replication removed on both hosts); the runs are complete")
    say(
        ("Demo complete.", "green"),
        f" Its runs are in the web UI ({stack.server.ui_url}, namespace "
        f"{DEMO_NAMESPACE}) while the server runs: `hvdr server start`.",
    )


async def _test_failover(client: Client, settings: Settings, announce: Callable[[str], None]) -> None:
    """Test failover of one tier on site-b's test network, verified, then cleaned up; production replication
    keeps running, its RPO measured throughout."""
    tier = _tier(settings)
    announce(f"test failover of the {TIER} tier ({', '.join(tier)}): testfailover/<vm>, on the mapped test network")
    kept = await asyncio.gather(*(client.test_failover(vm) for vm in tier))
    failed = [r for r in kept if r.phase != "keep"]
    if failed:
        raise HvdrError(f"the test failover of {failed[0].vm} failed: `hvdr show {failed[0].workflow_id}`")
    for report in kept:
        announce(f"{report.test_vm} runs verified on {report.test_network or 'no network'} (from {report.point})")
    for report in await asyncio.gather(*(client.test_failover_cleanup(vm) for vm in tier)):
        print_test_report(report)
        if not report.cleaned_up:
            raise HvdrError(
                f"the clean-up of {report.vm}'s test failover was not confirmed: `hvdr show {report.workflow_id}`"
            )
        rpo = report.rpo
        announce(
            f"{report.vm}: test VM removed, nothing left behind; production RPO during the test "
            f"{rpo.min_s or 0:.0f}-{rpo.max_s or 0:.0f} s (threshold {rpo.threshold_s or 0:.0f} s)"
        )


def _tier(settings: Settings) -> list[str]:
    with session_for(settings) as session:
        return [v["name"] for v in queries.vms(session, cloud=CLOUD) if v.get("tier") == TIER]


async def _plan_over_and_back(client: Client, settings: Settings, announce: Callable[[str], None]) -> None:
    """A planned failover of the default plan to site-b, its groups in order, then its failback home: each run's
    manual step approved through ``hvdr approve``'s path as the demo's identity, its report printed and its HTML
    report written where `hvdr report` would put it (the lab's disk checksums attached)."""
    with session_for(settings) as session:
        plan = declared_plan(session, PLAN)
    names = [vm for group in plan.groups for vm in group.vms]
    directions = await client.plan_directions(names)
    with session_for(settings) as session:
        over = plan_spec(session, plan, directions, time_scale=DEMO_SPEED)
    away = await _plan_run(client, settings, announce, over, f"planned failover of plan {PLAN}")
    # Protection takes up monitoring in the new direction before the way back.
    await client.wait_replicating(names, timeout=180)
    spec = await client.failback_plan_spec(PLAN, time_scale=DEMO_SPEED)
    home = await _plan_run(client, settings, announce, spec, f"failback of plan {PLAN}")
    announce(f"plan {PLAN} is home again on {', '.join(sorted(home))} (it ran on {', '.join(sorted(away))} meanwhile)")
    await client.wait_replicating(names, timeout=180)


async def _plan_run(
    client: Client, settings: Settings, announce: Callable[[str], None], spec: PlanSpec, what: str
) -> set[str]:
    """One plan run to its end; the hosts its VMs run on afterwards."""
    run = await client.start_plan(spec)
    groups = " → ".join(f"{g.name} ({len(g.vms)})" for g in spec.groups)
    announce(f"{what}: {run}, groups in order {groups}")
    for step in [a.name for g in spec.groups for a in (*g.before, *g.after) if a.type == "manual"]:
        decided = await client.approve_when_waiting(run, step, reason="approved by hvdr demo")
        announce(
            f"{run} waited for its manual step {step}: approved by {decided.by} as `hvdr approve {run} {step}` would"
        )
    report = await client.plan_result(run)
    print_plan_report(report)
    if report.outcome != "succeeded":
        raise HvdrError(f"the {what} did not complete ({report.outcome}): `hvdr plan show {run}`")
    built = await build_report(client, run, settings)
    path = write_report(built, "html", default_path(settings, built.run_id))
    equal = sum(1 for v in built.vms if v.data_loss and v.data_loss.checksums and v.data_loss.checksums.equal)
    announce(
        f"{what}: {len(report.vms)} VMs in {report.duration_s or 0:.1f} s (RTO {built.rto_s or 0:.1f} s wall at "
        f"{built.time_scale:g}x); disk checksums equal on {equal} of {len(built.vms)} VMs (zero data loss); "
        f"HTML report: {path}"
    )
    return {v.target_host for v in report.vms}


@guarded
def demo() -> None:
    """Run the main job on this machine and exit: embedded Temporal, the lab (two sites, twelve VMs),
    the topology applied, site workers, ping and discovery per site, protection of a whole cloud until every
    VM replicates, the status table, a test failover of the database tier and its clean-up, a planned failover
    of the plan three-tier to site-b (its manual step approved by the demo) and its failback, each run's report
    and HTML report, then protection disabled."""
    run_async(_demo(load_settings()))
