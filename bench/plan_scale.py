"""What a recovery plan's orchestration costs: plans of 10, 100 and 1,000 VMs on lab hosts, and a plan with
realistic guest timing against its critical path and against a sequential per-VM loop.

    .venv/bin/python bench/plan_scale.py [--vms 10 100 1000] [--hosts-per-site 4] [--realistic]

Two processes besides this one: the embedded Temporal dev server (the ``temporal`` binary hvdr embeds) and the lab
(``hvdr lab up``: real WinRM over loopback, the driver's own scripts, as remote hosts would be); here run one
worker for the workflows and one per site, exactly as ``hvdr worker`` builds them. VMs are put into replication
straight on the lab hosts (``Enable-VMReplication`` / ``Start-VMInitialReplication`` per host pair with a hundred
VMs in one array) so that the bench measures the plan, not a thousand protection bring-ups. The planned failover's
link to each VM's protection run (stand by, go on: one Temporal update per VM, which belongs to protection's cost —
issue #12 moves it to a per-host monitor) is answered by a stand-in activity on the workflow task queue; every host
step is the real one.

Overhead mode (default): the lab at a high speed with guests that stop and boot in 0 s and no cmdlet latency,
so the wall time of ``start_plan`` → result is orchestration (workflow, activities, Temporal, WinRM, the
lab's PowerShell) — printed per VM.

``--realistic``: shutdown 20 s, boot 30 s, ``Start-VMFailover`` 5 s (a cmdlet-latency fault), the prepare as
pending bytes / link speed, at the lab's speed; prints the plan's wall time against its critical path (per
group, the slowest VM's steps as the lab times them, summed) and against a sequential loop of single-VM
planned failovers (``failover/<vm>`` runs one after another) over the same driver.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from hvdr.activities.common import HostCalls
from hvdr.activities.plan import HostBatch, ItemOutcome
from hvdr.activities.runs import GoOn, StandBy
from hvdr.client import Client
from hvdr.codec import CONVERTER
from hvdr.inventory.apply import apply_topology
from hvdr.inventory.db import session_for
from hvdr.inventory.plan import plan_spec
from hvdr.inventory.protection import protection_spec
from hvdr.lab.control import token_path
from hvdr.lab.runner import call_control
from hvdr.protection import CommandResult, Phase
from hvdr.runtime.temporal_server import temporal_binary
from hvdr.settings import WORKFLOW_TASK_QUEUE, load_settings, site_task_queue
from hvdr.topology import PlanGroup, RecoveryPlan, parse_topology
from hvdr.visibility import SEARCH_ATTRIBUTES
from hvdr.worker.hosts import HostDirectory
from hvdr.worker.registry import WORKFLOWS, site_activities


def topology(vms: int, hosts_per_site: int, *, shutdown_s: float, boot_s: float) -> dict[str, Any]:
    replica = {"enabled": True, "authentication": "kerberos", "kerberos_port": 80, "allowed_from_any_server": True}
    hosts = [
        {
            "fqdn": f"hv-{s}{n:02d}.site-{s}.bench.local",
            "site": f"site-{s}",
            "cloud": f"bench-{s}",
            "credential": "lab-admin",
            "winrm": {"transport": "ntlm"},
            "switches": [{"name": "prod"}, {"name": "dr"}],
            "replica_server": replica,
        }
        for s in ("a", "b")
        for n in range(1, hosts_per_site + 1)
    ]
    primaries = [h["fqdn"] for h in hosts if h["site"] == "site-a"]
    return {
        "version": 1,
        "sites": [{"name": "site-a"}, {"name": "site-b"}],
        "clouds": [{"name": "bench-a", "site": "site-a"}, {"name": "bench-b", "site": "site-b"}],
        "hosts": hosts,
        "vms": [
            {
                "name": f"vm-{i:04d}",
                "host": primaries[i % len(primaries)],
                "tier": "bench",
                "disks": [{"name": f"vm-{i:04d}.vhdx", "size_gb": 4}],
                "network_adapters": [{"switch": "prod"}],
                "shutdown_s": shutdown_s,
                "boot_s": boot_s,
            }
            for i in range(vms)
        ],
        "policies": [
            {
                "name": "bench",
                "copy_frequency_s": 900,
                "recovery_point_hours": 0,
                "auth": {"type": "kerberos", "port": 80},
                "initial_replication": {"method": "network_now"},
            }
        ],
        "cloud_pairings": [{"primary_cloud": "bench-a", "recovery_cloud": "bench-b", "policy": "bench"}],
        "network_mappings": [{"source_network": "prod", "target_network": "dr"}],
        "lab": {
            "seed": 1,
            "credentials": {"lab-admin": {"username": "lab\\hvdr", "password": "hvdr-lab"}},
            "default_credential": "lab-admin",
            "workload": {"bench": {"write_kib_per_s": 16, "write_size_kib": 16}},
        },
    }


@activity.defn(name="plan_links")
async def links_stand_in(batch: HostBatch) -> list[ItemOutcome]:
    """The protection runs' answer to stand by / go on (and a dry run's "protected?"), without the runs."""
    if batch.step == "protection_running":
        return [ItemOutcome(result=True) for _ in batch.items]
    return [
        ItemOutcome(result=CommandResult(vm=item["vm"], phase=Phase.REPLICATING, message="ok").model_dump(mode="json"))
        for item in batch.items
    ]


@activity.defn(name="protection_stand_by")
async def stand_by_stand_in(request: StandBy) -> CommandResult:
    """The same answer for the sequential loop's single-VM failovers (one call per VM)."""
    return CommandResult(vm=request.vm, phase=Phase.REPLICATING, message="ok")


@activity.defn(name="protection_go_on")
async def go_on_stand_in(request: GoOn) -> CommandResult:
    return CommandResult(vm=request.vm, phase=Phase.REPLICATING, message="ok")


def plan_of(names: list[str]) -> RecoveryPlan:
    """Three groups (10 %, 30 %, 60 % of the VMs), like a three-tier application."""
    cut1, cut2 = max(1, len(names) // 10), max(2, len(names) * 4 // 10)
    groups = [("databases", names[:cut1]), ("applications", names[cut1:cut2]), ("web", names[cut2:])]
    return RecoveryPlan(name="bench", groups=[PlanGroup(name=n, vms=v) for n, v in groups if v])


class LabProcess:
    """``hvdr lab up`` in a process of its own, as real hosts are: in this process its WinRM server and cmdlets
    took the GIL from the workflow worker (a thousand VMs' workflow task then missed the SDK's two-second
    deadlock limit), which a worker never shares with its hosts."""

    def __init__(self, document: dict[str, Any], speed: float, endpoints: Path) -> None:
        self._endpoints = endpoints
        endpoints.parent.mkdir(parents=True, exist_ok=True)
        topology_file = endpoints.parent / "bench-topology.json"
        topology_file.write_text(json.dumps(document), encoding="utf-8")
        command = [str(Path(sys.executable).with_name("hvdr")), "lab", "up", "--topology", str(topology_file)]
        command += ["--speed", str(speed), "--endpoints", str(endpoints)]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)

    def wait_ready(self) -> None:
        while not (self._endpoints.is_file() and token_path(self._endpoints).is_file()):
            if self._process.poll() is not None:
                raise SystemExit(f"the lab exited with {self._process.returncode}")
            time.sleep(0.1)
        self._url = json.loads(self._endpoints.read_text(encoding="utf-8"))["control"]
        self._token = token_path(self._endpoints).read_text(encoding="utf-8").strip()

    def control(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        return call_control(self._url, self._token, method, route, body, timeout=120)

    def stop(self) -> None:
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


async def replicate(lab: LabProcess, directory: HostDirectory, pairs: dict[tuple[str, str], list[str]]) -> None:
    """Every VM into replication, one array command per (primary, replica) pair, then wait until all replicate."""

    async def pair(primary: str, replica: str, names: list[str]) -> None:
        host = directory.host(primary)
        # A hundred names twice stay under the 8,191-character command line (the lab refuses longer, as Windows).
        for chunk in range(0, len(names), 100):
            part = ",".join(f"'{n}'" for n in names[chunk : chunk + 100])
            script = (
                f"Enable-VMReplication -VMName {part} -ReplicaServerName '{replica}' -ReplicaServerPort 80 "
                f"-AuthenticationType Kerberos -ReplicationFrequencySec 900 -Confirm:$false\n"
                f"Start-VMInitialReplication -VMName {part} -Confirm:$false"
            )
            await asyncio.to_thread(host.run_script, script, 600)

    await asyncio.gather(*(pair(primary, replica, names) for (primary, replica), names in pairs.items()))
    total = sum(len(v) for v in pairs.values())
    while True:
        rows = lab.control("GET", "/vms")
        ready = sum(1 for r in rows if r["replication_mode"] == "Primary" and r["replication_state"] == "Replicating")
        if ready >= total:
            return
        await asyncio.sleep(0.2)


async def run_plan(client: Client, spec: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    report = await client.plan_result(await client.start_plan(spec))
    return time.perf_counter() - began, report


async def one_size(args: argparse.Namespace, vms: int, realistic: bool) -> None:
    home = Path(tempfile.mkdtemp(prefix="hvdr-plan-bench-"))
    os.environ.update(
        {
            "HVDR_HOME": str(home),
            "HVDR_LAB": "1",
            "HVDR_NAMESPACE": "default",
        }
    )
    for name in ("HVDR_DATABASE_URL", "HVDR_TOPOLOGY", "HVDR_TIME_SCALE", "HVDR_CONFIG"):
        os.environ.pop(name, None)
    shutdown_s, boot_s = (20.0, 30.0) if realistic else (0.0, 0.0)
    speed = args.realistic_speed if realistic else args.speed
    document = topology(vms, args.hosts_per_site, shutdown_s=shutdown_s, boot_s=boot_s)
    parsed = parse_topology(document)
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        data_converter=CONVERTER,
        search_attributes=list(SEARCH_ATTRIBUTES),
    ) as env:
        os.environ["HVDR_TEMPORAL_ADDRESS"] = env.client.service_client.config.target_host
        settings = load_settings()
        setup = time.perf_counter()
        lab = LabProcess(document, speed, settings.lab_endpoints)
        try:
            await asyncio.to_thread(lab.wait_ready)
            print(f"  lab of {vms} VMs started in {time.perf_counter() - setup:.1f} s", flush=True)
            setup = time.perf_counter()
            with session_for(settings) as session:
                apply_topology(session, parsed)
                print(f"  topology applied in {time.perf_counter() - setup:.1f} s", flush=True)
                setup = time.perf_counter()
                names = [v.name for v in parsed.vms]
                protections = {n: protection_spec(session, n, speed) for n in names}
                print(f"  protection specs in {time.perf_counter() - setup:.1f} s", flush=True)
            directory = HostDirectory(settings)
            pairs: dict[tuple[str, str], list[str]] = {}
            for name, p in protections.items():
                pairs.setdefault((p.primary.host, p.replica.host), []).append(name)
            began = time.perf_counter()
            await replicate(lab, directory, pairs)
            print(f"  {vms} VMs replicating in {time.perf_counter() - began:.1f} s", flush=True)
            if realistic:
                for host in parsed.hosts:
                    if host.site == "site-b":
                        lab.control(
                            "POST",
                            "/faults",
                            {
                                "kind": "cmdlet_latency",
                                "host": host.fqdn,
                                "cmdlet": "Start-VMFailover",
                                "seconds": 5.0 / speed,
                            },
                        )
            calls = HostCalls(directory)
            workers = [
                Worker(
                    env.client,
                    task_queue=WORKFLOW_TASK_QUEUE,
                    workflows=list(WORKFLOWS),
                    activities=[links_stand_in, stand_by_stand_in, go_on_stand_in],
                ),
                *(
                    Worker(env.client, task_queue=site_task_queue(site), activities=site_activities(directory, calls))
                    for site in ("site-a", "site-b")
                ),
            ]
            stop = asyncio.Event()

            async def serve() -> None:
                async with asyncio.TaskGroup() as group:
                    for worker in workers:
                        group.create_task(worker.run())
                    await stop.wait()
                    for worker in workers:
                        group.create_task(worker.shutdown())

            serving = asyncio.create_task(serve())
            client = Client(env.client, settings)
            plan = plan_of(names)
            with session_for(settings) as session:
                directions = {n.lower(): (p.primary, p.replica) for n, p in protections.items()}
                spec = plan_spec(session, plan, directions, time_scale=speed)
            lab.control("DELETE", "/calls")
            wall, report = await run_plan(client, spec)
            ok = sum(1 for v in report.vms if v.outcome == "succeeded")
            for failed in [v for v in report.vms if v.outcome != "succeeded"][:3]:
                print(f"  {failed.vm}: {failed.outcome} {failed.error}", flush=True)
            commands = lab.control("GET", "/calls")["total"]
            history = await env.client.get_workflow_handle(report.workflow_id).fetch_history()
            if args.record and not realistic:
                await asyncio.to_thread(Path(args.record).write_text, history.to_json(), encoding="utf-8")
                args.record = None  # the first run only: recorded histories are append-only
            print(
                f"plan of {vms} VMs ({len(spec.groups)} groups, {args.hosts_per_site} hosts per site): "
                f"{report.outcome}, "
                f"{ok}/{vms} moved; wall {wall:.2f} s = {1000 * wall / vms:.1f} ms per VM; {commands} cmdlet "
                f"calls; {len(history.events)} history events",
                flush=True,
            )
            steps: dict[str, list[float]] = {}
            for bar in report.timeline:
                if bar.ended_at is not None:
                    steps.setdefault(bar.step, []).append((bar.ended_at - bar.started_at).total_seconds())
            print(
                "  step seconds (median / max over VMs): "
                + ", ".join(f"{k} {statistics.median(v):.2f}/{max(v):.2f}" for k, v in steps.items()),
                flush=True,
            )
            print(
                "  groups: "
                + ", ".join(
                    f"{g.name} {(g.ended_at - g.started_at).total_seconds():.1f} s"
                    for g in report.groups
                    if g.started_at and g.ended_at
                ),
                flush=True,
            )
            if realistic:
                critical = 0.0
                for group in report.groups:
                    lanes = [v for v in report.vms if v.group == group.name and v.started_at and v.ended_at]
                    critical += max(lab_seconds(report, v.vm, speed) for v in lanes)
                print(
                    f"  critical path (per group the slowest VM's host work at the lab's clock, summed): "
                    f"{critical:.2f} s → plan / critical path = {wall / critical:.3f}",
                    flush=True,
                )
                # Back the other way, one VM after another (what an admin's script does today).
                await sequential_back(client, settings, names, protections, speed)
            stop.set()
            await serving
            directory.close()
        finally:
            lab.stop()


def lab_seconds(report: Any, vm: str, speed: float) -> float:
    """What the lab makes a VM wait, in real seconds: shutdown 20 + failover 5 + boot 30 (host seconds) / speed
    plus its final sync as measured (the prepare step's own duration)."""
    prepare = next(
        (
            (b.ended_at - b.started_at).total_seconds()
            for b in report.timeline
            if b.lane == vm and b.step == "prepare" and b.ended_at
        ),
        0.0,
    )
    return (20.0 + 5.0 + 30.0) / speed + prepare


async def sequential_back(client: Client, settings: Any, names: list[str], protections: Any, speed: float) -> None:
    from hvdr.inventory.failover import failover_spec

    began = time.perf_counter()
    for name in names:
        p = protections[name]
        with session_for(settings) as session:
            spec = failover_spec(session, name, p.replica, p.primary, time_scale=speed)
        workflow_id = await client.start_planned_failover(spec)
        report = await client.failover_result(workflow_id)
        if report.outcome != "succeeded":
            print(f"  sequential: {name} {report.outcome}: {report.error}")
    wall = time.perf_counter() - began
    print(f"  sequential loop of single-VM planned failovers (back): {wall:.2f} s for {len(names)} VMs", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, nargs="*", default=[10, 100, 1000], help="none: only --realistic")
    parser.add_argument("--hosts-per-site", type=int, default=4)
    parser.add_argument("--speed", type=float, default=60.0, help="lab speed in overhead mode")
    parser.add_argument("--realistic", action="store_true", help="also the realistic-latency run")
    parser.add_argument("--record", help="write the first plan run's history here (a new replay fixture)")
    parser.add_argument("--realistic-vms", type=int, default=24)
    parser.add_argument("--realistic-speed", type=float, default=20.0)
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"hvdr plan_scale — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
        flush=True,
    )
    # A TERM (timeout, kill) unwinds like Ctrl-C, so the lab and the Temporal server are stopped, not orphaned.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for vms in args.vms:
            asyncio.run(one_size(args, vms, realistic=False))
        if args.realistic:
            asyncio.run(one_size(args, args.realistic_vms, realistic=True))
    except KeyboardInterrupt:
        print("interrupted: the lab and the Temporal server were stopped", flush=True)
        os._exit(130)
    os._exit(0)


if __name__ == "__main__":
    main()
