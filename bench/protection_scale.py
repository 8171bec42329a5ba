"""What protection costs at scale: many VMs replicating, watched by hvdr's workers through Temporal.

    .venv/bin/python bench/protection_scale.py [--vms 200] [--speed 5] [--seconds 60] [--frequency 30]
                                               [--hosts-per-site N] [--start-only [--wait] [--hold S]]

Starts, each in a child process, the embedded Temporal server (``hvdr server start``), the lab
(``hvdr lab up`` with a generated topology: two sites of N hosts, every VM on site-a in cloud ``bench-a``
paired to ``bench-b`` on site-b under one policy of ``--frequency`` seconds) and one worker for both sites
(``hvdr worker``). Then it protects every VM through ``hvdr.Client`` (``protect(cloud=...)``: the start time
is what ``hvdr protect enable --cloud`` spends), waits until all settle, and measures a steady-state window
of ``--seconds``: the CPU share of the worker and of the Temporal server (psutil, the processes and their
children), history events and Temporal actions per second (counted in the histories of a sample of VMs and scaled to
all), and extrapolates history events per VM per day. At the
end it times ``hvdr status -o json`` for all VMs and reports the worst RPO against the copy frequency.

``--start-only`` (for 1,000 real runs in a few minutes): after the same setup it times the user's commands as
processes — ``hvdr protect enable --cloud bench-a --no-wait`` starting every run, then, once every run has
published its first status (or ``--settle-timeout`` passed) and the worker is stopped, ``hvdr status -o json``
twice — and skips the bring-up and the steady-state window. With ``--wait`` the start is ``hvdr protect enable
--cloud bench-a`` as a user runs it (one aggregate progress line), timed until it returns, against when this
process saw every run settled. ``--hold S`` keeps the server and the runs S seconds afterwards (to profile).

The lab's clock runs ``--speed`` times faster than real time, so V VMs at speed S make the same number of
copy cycles per real second as V×S VMs in real time: 200 VMs at speed 5 ≈ 1,000 VMs at 30 s (it prints the
equivalence). Per-day figures are given per VM in host time (what one VM costs in a day of real operation).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError

from hvdr.client import Client
from hvdr.errors import HvdrError
from hvdr.inventory.apply import apply_topology
from hvdr.inventory.db import session_for
from hvdr.inventory.validate import load_and_validate
from hvdr.outcomes import STARTING, ProtectionProgress
from hvdr.settings import load_settings

HVDR = [sys.executable, "-c", "from hvdr.cli.main import main; main()"]

# What Temporal counts as an action (its billing unit), as history events.
ACTIONS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


def topology(vms: int, hosts_per_site: int, frequency: int) -> dict[str, Any]:
    replica = {
        "enabled": True,
        "authentication": "kerberos",
        "kerberos_port": 80,
        "allowed_from_any_server": True,
        "default_storage_location": "D:\\Replica",
    }
    hosts = [
        {
            "fqdn": f"hv-{s}{n:02d}.site-{s}.bench.local",
            "site": f"site-{s}",
            "cloud": f"bench-{s}",
            "credential": "lab-admin",
            "winrm": {"transport": "ntlm"},
            "switches": [{"name": "prod"}],
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
            }
            for i in range(vms)
        ],
        "policies": [
            {
                "name": f"bench-{frequency}s",
                "copy_frequency_s": frequency,
                "recovery_point_hours": 0,
                "auth": {"type": "kerberos", "port": 80},
                "initial_replication": {"method": "network_now"},
                "rpo_alert_threshold_s": max(2 * frequency, 60),
            }
        ],
        "cloud_pairings": [{"primary_cloud": "bench-a", "recovery_cloud": "bench-b", "policy": f"bench-{frequency}s"}],
        "lab": {
            "seed": 1,
            "credentials": {"lab-admin": {"username": "lab\\hvdr", "password": "hvdr-lab"}},
            "default_credential": "lab-admin",
            "workload": {"bench": {"write_kib_per_s": 32, "write_size_kib": 64}},
        },
    }


def free_port() -> int:
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 1000 < 65536:
            with socket.socket() as other:
                try:
                    other.bind(("127.0.0.1", port + 1000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair")


class Processes:
    """The child processes this bench starts; every one is stopped at the end."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: list[subprocess.Popen[bytes]] = []

    def spawn(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            child = subprocess.Popen([*HVDR, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.children.append(child)
        return child

    def hvdr(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*HVDR, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in reversed(self.children):
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (the server's and worker's threads included)."""
    try:
        process = psutil.Process(pid)
        total = sum(process.cpu_times()[:2])
        for child in process.children(recursive=True):
            try:
                total += sum(child.cpu_times()[:2])
            except psutil.NoSuchProcess:
                continue
        return float(total)
    except psutil.NoSuchProcess:
        return 0.0


@contextmanager
def stage(text: str) -> Iterator[None]:
    began = time.perf_counter()
    print(f"… {text}", flush=True)
    yield
    print(f"  done in {time.perf_counter() - began:.1f} s", flush=True)


async def sampled_actions(client: Client, query: str, start: datetime, end: datetime) -> tuple[int, int]:
    """(actions, events) recorded between start and end in the histories of the runs the query lists."""
    actions = events = 0
    stamp = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    query = f"{query} AND (ExecutionStatus = 'Running' OR CloseTime >= '{stamp}')"
    async for run in client.temporal.list_workflows(query):
        handle = client.temporal.get_workflow_handle(run.id, run_id=run.run_id)
        async for event in handle.fetch_history_events():
            at = event.event_time.ToDatetime(tzinfo=UTC)
            if start <= at < end:
                events += 1
                actions += event.event_type in ACTIONS
    return actions, events


async def bench(args: argparse.Namespace, processes: Processes, home: Path) -> None:
    settings = load_settings()
    equivalent = args.vms * args.speed
    print(
        f"load: {args.vms} VMs at a {args.frequency} s copy frequency on a lab at speed {args.speed:g} = "
        f"{args.vms * args.speed / args.frequency:.1f} VM copy cycles per second, the same as {equivalent:,.0f} "
        f"VMs at {args.frequency} s in real time"
    )
    topology_file = home / "bench-topology.yaml"
    topology_file.write_text(yaml.safe_dump(topology(args.vms, args.hosts_per_site, args.frequency)))

    with stage("embedded Temporal server"):
        started = processes.hvdr("server", "start")
        if started.returncode != 0:
            raise SystemExit(f"server start failed: {started.stderr.strip()}")
        status = json.loads(processes.hvdr("server", "status", "-o", "json").stdout)
        server_pid = int(status["pid"])
    with stage(f"lab: {args.vms} VMs on {args.hosts_per_site} hosts per site, speed {args.speed:g}"):
        lab = processes.spawn(
            "lab", "up", "--topology", str(topology_file), "--speed", str(args.speed), log=home / "lab.log"
        )
        deadline = time.monotonic() + 300
        while not settings.lab_endpoints.exists():
            if lab.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the lab did not start: see {home / 'lab.log'}")
            await asyncio.sleep(0.5)
    with stage("inventory: apply the topology"), session_for(settings) as session:
        apply_topology(session, load_and_validate(topology_file))
    with stage("worker for site-a and site-b"):
        worker = processes.spawn("worker", "--site", "site-a", "--site", "site-b", log=home / "worker.log")
        client = await Client.connect(settings)
        if not await client.wait_for_pollers("hvdr-site-site-b", timeout=120):
            raise SystemExit(f"the worker did not start: see {home / 'worker.log'}")

    if args.start_only:
        await start_and_status(args, processes, client, worker)
        return

    began = datetime.now(UTC)
    rollout = await client.protect(cloud="bench-a", time_scale=args.speed, concurrency=args.concurrency)
    print(
        f"protect(cloud=bench-a): {len(rollout.runs)} runs started in {rollout.start_seconds:.1f} s "
        f"({len(rollout.runs) / max(rollout.start_seconds, 1e-9):.0f} starts/s; 1,000 runs ≈ "
        f"{1000 * rollout.start_seconds / len(rollout.runs):.1f} s)",
        flush=True,
    )
    last = [0.0]

    def show(progress: ProtectionProgress) -> None:
        if time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            print(f"  {progress.summary()}", flush=True)

    settle_began = time.perf_counter()
    try:
        progress = await client.wait_protected(
            cloud="bench-a", timeout=args.settle_timeout, on_progress=show, since=began
        )
    except HvdrError as exc:  # measure anyway: a bring-up that does not settle is a finding too
        print(f"NOT SETTLED: {exc}", flush=True)
        progress = await client.protection_progress([r.vm for r in rollout.runs], since=began)
    print(f"settled in {time.perf_counter() - settle_began:.1f} s: {progress.summary()}", flush=True)
    if progress.failed:
        print(f"  failed: {dict(list(progress.failed.items())[:5])}")
    # Let the bring-up's tail (phase changes, first cycles) pass before measuring the steady state.
    await asyncio.sleep(max(3 * args.frequency / args.speed, 5))

    window_start = datetime.now(UTC)
    cpu_before = {"worker": cpu_seconds(worker.pid), "server": cpu_seconds(server_pid)}
    wall_before = time.perf_counter()
    await asyncio.sleep(args.seconds)
    wall = time.perf_counter() - wall_before
    cpu = {
        "worker": cpu_seconds(worker.pid) - cpu_before["worker"],
        "server": cpu_seconds(server_pid) - cpu_before["server"],
    }
    window_end = datetime.now(UTC)
    sample = [r.vm for r in rollout.runs[:: max(1, len(rollout.runs) // args.sample)]][: args.sample]
    vm_query = "(" + " OR ".join(f"WorkflowId = 'protect/{vm}'" for vm in sample) + ")"
    actions, sampled_events = await sampled_actions(client, vm_query, window_start, window_end)
    # Visibility has no history length for running runs here: read the sample's histories and scale up; the
    # host monitors (a few) are read whole.
    scale = len(rollout.runs) / max(len(sample), 1)
    monitor_actions, monitor_events = await sampled_actions(client, "HvdrKind = 'monitor'", window_start, window_end)
    actions_per_s = (actions * scale + monitor_actions) / wall
    events = round(sampled_events * scale + monitor_events)

    status_wall, rows, failed = timed_status(processes)
    replicating = sum(r["phase"] == "replicating" for r in rows)
    rpos = [r["rpo_s"] for r in rows if r.get("rpo_s") is not None]

    per_vm_day = events / wall / len(rollout.runs) / args.speed * 86400
    print()
    print(f"window: {wall:.1f} s wall, {args.vms} VMs ≈ {equivalent:,.0f} VMs at {args.frequency} s in real time")
    print(f"worker CPU: {cpu['worker'] / wall:.2f} core (target ≤ 0.25)")
    print(f"Temporal server CPU: {cpu['server'] / wall:.2f} core (target ≤ 0.25)")
    print(f"history events: {events / wall:.1f} per second (~{events} in the window, VM runs scaled from the sample)")
    print(
        f"Temporal actions: {actions_per_s:.1f} per second (VM runs: {actions} actions of {sampled_events} events "
        f"in {len(sample)} sampled histories, scaled to {len(rollout.runs)}; host monitors: {monitor_actions} "
        f"actions of {monitor_events} events)"
    )
    print(f"history events per VM per day (host time): {per_vm_day:,.0f}")
    print(
        f"hvdr status -o json: {len(rows)} VMs in {status_wall:.2f} s wall (CLI process included; target ≤ 2 s "
        f"for 1,000); {replicating}/{len(rows)} replicating" + failed
    )
    if rpos:
        print(
            f"RPO: max {max(rpos):.0f} s, median {sorted(rpos)[len(rpos) // 2]:.0f} s host time vs copy frequency "
            f"{args.frequency} s (target max ≤ {2 * args.frequency} s)"
        )


def timed_status(processes: Processes) -> tuple[float, list[dict[str, Any]], str]:
    began = time.perf_counter()
    listed = processes.hvdr("status", "-o", "json")
    wall = time.perf_counter() - began
    rows = json.loads(listed.stdout) if listed.returncode == 0 else []
    return wall, rows, "" if listed.returncode == 0 else f" — failed: {listed.stderr.strip()[:200]}"


async def start_and_status(
    args: argparse.Namespace, processes: Processes, client: Client, worker: subprocess.Popen[bytes]
) -> None:
    """--start-only: the user's commands with real runs — ``hvdr protect enable --cloud --no-wait`` (a CLI
    process, timed whole), then ``hvdr status -o json`` of every run once each has published a status."""
    if args.wait:
        await enable_and_wait(args, processes, client)
    else:
        await enable_no_wait(args, processes, client)
    # The bring-up of 1,000 runs keeps the server busy for minutes: stop the worker so that status is timed on a
    # server doing nothing else (the runs stay where they are).
    worker.send_signal(signal.SIGINT)
    worker.wait(timeout=120)
    await asyncio.sleep(5)
    await status_twice(args, processes)


async def enable_and_wait(args: argparse.Namespace, processes: Processes, client: Client) -> None:
    """``hvdr protect enable --cloud`` with its one aggregate progress line: when it returns against when every
    run had settled (seen by this process, listing progress every 2 s)."""
    load = os.getloadavg()
    began = time.perf_counter()
    out = Path(os.environ["HVDR_HOME"]) / "enable-wait.log"
    cli = processes.spawn("protect", "enable", "--cloud", "bench-a", "--time-scale", str(args.speed), log=out)
    settled_at: float | None = None
    targets = client.protection_targets(cloud="bench-a")
    while cli.poll() is None and time.perf_counter() - began < args.settle_timeout:
        await asyncio.sleep(2)
        if settled_at is None:
            try:
                progress = await client.protection_progress(targets)
            except RPCError:
                continue
            if progress.settled == progress.total:
                settled_at = time.perf_counter() - began
                print(f"  every run settled by {settled_at:.1f} s: {progress.summary()}", flush=True)
    if cli.poll() is None:
        cli.kill()
    returned = time.perf_counter() - began
    text = out.read_text(encoding="utf-8", errors="replace")
    started = next((line for line in text.splitlines() if line.startswith("Started")), "(no start line)")
    last = text.strip().splitlines()[-1] if text.strip() else ""
    lag = f"{returned - settled_at:.1f} s after every run settled" if settled_at is not None else "(never settled)"
    print(
        f"hvdr protect enable --cloud bench-a (--wait): returned {cli.returncode} after {returned:.1f} s wall, "
        f"{lag}; load average before {load[0]:.1f}; {started[:100]} … {last[:140]}",
        flush=True,
    )


async def enable_no_wait(args: argparse.Namespace, processes: Processes, client: Client) -> None:
    load = os.getloadavg()
    began = time.perf_counter()
    enabled = processes.hvdr("protect", "enable", "--cloud", "bench-a", "--no-wait", "--time-scale", str(args.speed))
    wall = time.perf_counter() - began
    said = " ".join(enabled.stdout.split())
    print(
        f"hvdr protect enable --cloud bench-a --no-wait: {wall:.1f} s wall (CLI process included; target ≤ 30 s "
        f"for 1,000), load average before {load[0]:.1f}: {said[:160]}"
        + ("" if enabled.returncode == 0 else f" — failed: {enabled.stderr.strip()[:200]}"),
        flush=True,
    )
    deadline = time.monotonic() + args.settle_timeout
    while time.monotonic() < deadline:  # until every run is past its first task (it publishes a status then)
        try:
            progress = await client.protection_progress(client.protection_targets(cloud="bench-a"))
        except RPCError as exc:  # a server busy with the bring-up: a finding, not the end of the measurement
            print(f"  progress listing failed: {exc}", flush=True)
            continue
        print(f"  {progress.summary()}", flush=True)
        if not progress.phases.get(STARTING):
            break
        await asyncio.sleep(10)


async def status_twice(args: argparse.Namespace, processes: Processes) -> None:
    for attempt in (1, 2):
        load = os.getloadavg()
        status_wall, rows, failed = timed_status(processes)
        phases: dict[str, int] = {}
        for row in rows:
            phases[row["phase"]] = phases.get(row["phase"], 0) + 1
        print(
            f"hvdr status -o json ({attempt}): {len(rows)} VMs in {status_wall:.2f} s wall (CLI process included; "
            f"target ≤ 2 s for 1,000), load average {load[0]:.1f}; phases {phases}{failed}",
            flush=True,
        )
    if args.hold:
        reach = " ".join(f"{k}={v}" for k, v in os.environ.items() if k in ("HVDR_HOME", "HVDR_TEMPORAL_ADDRESS"))
        print(f"holding for {args.hold:.0f} s (runs and server kept): HVDR_LAB=1 {reach} hvdr status", flush=True)
        await asyncio.sleep(args.hold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--speed", type=float, default=5.0, help="lab clock speed (host seconds per real second)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the measured window")
    parser.add_argument("--frequency", type=int, default=30, choices=[30, 300, 900], help="copy frequency (s)")
    parser.add_argument("--hosts-per-site", type=int, default=0, help="default: one per 50 VMs, at least 2")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent starts")
    parser.add_argument("--sample", type=int, default=10, help="VMs whose histories are read to count actions")
    parser.add_argument("--settle-timeout", type=float, default=900.0)
    parser.add_argument(
        "--start-only",
        action="store_true",
        help="time `hvdr protect enable --cloud` and `hvdr status` with real runs, no steady-state window",
    )
    parser.add_argument(
        "--wait", action="store_true", help="with --start-only: `protect enable` with --wait, timed until it returns"
    )
    parser.add_argument(
        "--hold", type=float, default=0.0, help="with --start-only: keep the server and runs this many seconds"
    )
    args = parser.parse_args()
    args.hosts_per_site = args.hosts_per_site or max(2, args.vms // 50)
    print(
        f"hvdr protection_scale — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{psutil.cpu_count()} cores, python {platform.python_version()}"
    )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    with tempfile.TemporaryDirectory(prefix="hvdr-bench-") as tmp:
        home = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HVDR_")}
        env.update({"HVDR_HOME": str(home), "HVDR_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "HVDR_LAB": "1"})
        os.environ.update(env)
        processes = Processes(env)
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # a TERM stops the children too
        try:
            asyncio.run(bench(args, processes, home))
        finally:
            processes.stop()
            processes.hvdr("server", "stop")
    os._exit(0)  # the Temporal SDK can crash at interpreter exit (sdk-python #300)


if __name__ == "__main__":
    main()
