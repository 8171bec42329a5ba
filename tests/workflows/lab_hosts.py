"""The real activities over the lab, in-process: a fake ``Hosts`` whose drivers feed their scripts to the lab's
PowerShell without WinRM.

:class:`LabTransport` is the driver's transport seam pointed at a lab host: the driver's own scripts, the
lab's parser, cmdlets, state machine and CLIXML error records, the driver's own parsing and error mapping;
only the WS-Management wire is left out (tests/hyperv and tests/e2e cover it). :class:`LabHosts` implements
:class:`hvdr.activities.hosts.Hosts` over a frozen-clock lab that follows Temporal's clock (the scheduled time
of each activity), so time-skipping workflow tests see replication cycles, RPO and health move with simulated
time. Workflow tests use the ``lab_hosts`` fixture (tests/workflows/conftest.py) and :func:`site_workers`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import activity
from temporalio.client import Client as TemporalClient
from temporalio.worker import Worker

from hvdr.activities.common import HostCalls
from hvdr.hyperv.abort import abort_requested
from hvdr.hyperv.errors import HostUnreachable, OutcomeUnknown
from hvdr.hyperv.host import WinRMHyperVHost, WinRMVMMServer
from hvdr.hyperv.protocol import HyperVHost, VMMServer
from hvdr.hyperv.transport import HyperVTransport, PSResult
from hvdr.lab.cmdlets import ps_hosts
from hvdr.lab.models.backend import LabBackend
from hvdr.lab.models.build import build_backend
from hvdr.lab.models.clock import LabClock
from hvdr.lab.models.replication import Relationship
from hvdr.lab.powershell import run_script
from hvdr.lab.seam import Cmdlet, Invocation, PSError, PSHost, WireFaults
from hvdr.models import DiscoveredHost
from hvdr.settings import site_task_queue
from hvdr.topology import Topology, parse_topology
from hvdr.worker.registry import WORKFLOWS, site_activities, workflow_activities
from hvdr.workflows.monitor import MonitorWorkflow
from hvdr.workflows.protection import ProtectionWorkflow

T = TypeVar("T", bound="LabTransport")
A1, B1 = "hv-a1.site-a.lab.local", "hv-b1.site-b.lab.local"
SITES = ("site-a", "site-b")


class LabTransport(HyperVTransport):
    """Runs each script on a lab host's PowerShell in this process; the wire's ``down`` fault refuses it."""

    def __init__(self, host: PSHost) -> None:
        self.host = host.name
        self.ps = host
        self.scripts: list[str] = []

    def run(self, script: str, *, timeout: float | None = None) -> PSResult:
        if self.ps.wire_faults().down:
            raise HostUnreachable("run: cannot connect (Connection refused)", host=self.host)
        self.scripts.append(script)
        out: list[str] = []
        # As WinRMTransport: a script still running at its time budget is terminated, its outcome unknown.
        cancelled, budget_spent = abort_requested() or threading.Event(), threading.Event()

        def spent() -> None:
            budget_spent.set()
            cancelled.set()

        timer = threading.Timer(timeout, spent) if timeout else None
        if timer is not None:
            timer.start()
        try:
            result = run_script(self.ps, script, write_stdout=out.append, cancelled=cancelled)
        finally:
            if timer is not None:
                timer.cancel()
        if budget_spent.is_set():
            raise OutcomeUnknown("the command was still running at its time budget and was terminated", host=self.host)
        return PSResult("".join(out), result.stderr, result.exit_code)


class SlowTransport(LabTransport):
    """Every script takes ``seconds``, unless the caller aborts it (as WinRMTransport does between Receives)."""

    def __init__(self, host: PSHost, seconds: float) -> None:
        super().__init__(host)
        self.seconds = seconds
        self.started = threading.Event()
        self.aborted = threading.Event()
        self.returned = threading.Event()

    def run(self, script: str, *, timeout: float | None = None) -> PSResult:
        self.started.set()
        try:
            abort = abort_requested()
            assert abort is not None, "host calls run inside an abort scope"
            if abort.wait(self.seconds):
                self.aborted.set()
                raise OutcomeUnknown("the caller gave up while the command ran; it was terminated", host=self.host)
            return super().run(script, timeout=timeout)
        finally:
            self.returned.set()


class _Refusing:
    """A lab host whose named cmdlets fail as Hyper-V does when the account lacks the right (PermissionDenied)."""

    def __init__(self, host: PSHost, refused: set[str]) -> None:
        self._host = host
        self._refused = refused

    @property
    def name(self) -> str:
        return self._host.name

    def wire_faults(self) -> WireFaults:
        return self._host.wire_faults()

    def cmdlet(self, name: str) -> Cmdlet | None:
        if name.lower() not in self._refused:
            return self._host.cmdlet(name)
        short = self._host.name.split(".")[0].upper()

        def refuse(invocation: Invocation) -> list[Any]:
            raise PSError(
                "You do not have the required permission to complete this task. Contact the administrator of "
                f"the authorization policy for the computer '{short}'.",
                error_id="AccessDenied",
                category="PermissionDenied",
            )

        return refuse


class LabHosts:
    """The Hosts of a worker, over an in-process lab (implements :class:`hvdr.activities.hosts.Hosts`)."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.backend: LabBackend = build_backend(topology, LabClock(speed=0))
        self._refused: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self.transports: dict[str, LabTransport] = {}
        self.drivers: dict[str, HyperVHost] = {}
        self.vmms: dict[str, VMMServer] = {}
        vmm_site = {server.name.lower(): server.site for server in topology.vmm_servers}
        for fqdn, ps in ps_hosts(self.backend).items():
            refused = self._refused.setdefault(fqdn, set())
            self.transports[fqdn] = LabTransport(_Refusing(ps, refused))
            if fqdn.lower() in vmm_site:
                self.vmms[vmm_site[fqdn.lower()]] = WinRMVMMServer(self.transports[fqdn], fqdn)
            else:
                self.drivers[fqdn] = WinRMHyperVHost(self.transports[fqdn], fqdn)

    # -- Hosts ----------------------------------------------------------------------------------------------
    def host(self, name: str) -> HyperVHost:
        self.follow_temporal_clock()
        fqdn = self.backend.endpoint_name(name)
        if fqdn is None or fqdn not in self.drivers:
            raise KeyError(name)
        return self.drivers[fqdn]

    def vmm(self, site: str) -> VMMServer | None:
        return self.vmms.get(site)

    def site_hosts(self, site: str) -> list[DiscoveredHost]:
        return [DiscoveredHost(name=h.fqdn, cloud=h.cloud) for h in self.topology.hosts if h.site == site]

    # -- the lab, for tests ---------------------------------------------------------------------------------
    def use_transport(self, host: str, make: Callable[[PSHost], T]) -> T:
        """Give the host's driver another transport over the same lab host (one that loses answers, say)."""
        transport = make(self.transports[host].ps)
        self.transports[host] = transport
        self.drivers[host] = WinRMHyperVHost(transport, host)
        return transport

    def follow_temporal_clock(self) -> None:
        """Bring the lab's clock to the time Temporal scheduled the running activity (never backwards)."""
        if not activity.in_activity():
            return
        at = activity.info().current_attempt_scheduled_time.timestamp()
        with self._lock:
            ahead = at - self.backend.now()
            if ahead > 0:
                self.backend.advance(ahead)

    def calls(self, cmdlet: str, vm: str | None = None, host: str | None = None) -> int:
        """How often the lab ran a cmdlet (on one VM, on one host); the lab counts every call it serves."""
        return sum(
            c["count"]
            for c in self.backend.call_counts()
            if c["cmdlet"].lower() == cmdlet.lower()
            and (vm is None or (c["vm"] or "").lower() == vm.lower())
            and (host is None or c["host"].lower() == host.lower())
        )

    def relationship(self, vm: str, host: str = A1) -> Relationship:
        [found] = self.backend.require_host(host).vms_named(vm)
        assert found.replication is not None, f"{vm} does not replicate on {host}"
        return found.replication

    def refuse(self, host: str, cmdlet: str) -> None:
        self._refused[host].add(cmdlet.lower())

    def allow(self, host: str, cmdlet: str) -> None:
        self._refused[host].discard(cmdlet.lower())

    def partition(self) -> str:
        return self.backend.add_fault("partition", site_a="site-a", site_b="site-b").id

    def heal(self, fault_id: str) -> None:
        self.backend.clear_fault(fault_id)


def lab_topology(
    vms: Sequence[str], disk_gb: float = 8, write_kib_per_s: float = 16, primary_host: str = A1, replica_host: str = B1
) -> Topology:
    """Two sites, one host each (both Replica servers), the named VMs running on ``primary_host`` (hv-a1) with a light
    writer; ``replica_host`` (hv-b1) is the other site's host."""
    replica = {
        "enabled": True,
        "authentication": "kerberos",
        "allowed_from_any_server": True,
        "default_storage_location": "D:\\Hyper-V Replica",
    }
    return parse_topology(
        {
            "sites": [{"name": "site-a"}, {"name": "site-b"}],
            "hosts": [
                {
                    "fqdn": primary_host,
                    "site": "site-a",
                    "replica_server": replica,
                    "switches": [{"name": "vSwitch-Prod"}],
                },
                {
                    "fqdn": replica_host,
                    "site": "site-b",
                    "replica_server": replica,
                    "switches": [{"name": "vSwitch-DR"}],
                },
            ],
            "vms": [
                {
                    "name": name,
                    "host": primary_host,
                    "tier": "t",
                    "disks": [{"name": f"{name}.vhdx", "size_gb": disk_gb}],
                    "network_adapters": [{"switch": "vSwitch-Prod"}],
                }
                for name in vms
            ],
            "lab": {"workload": {"t": {"write_kib_per_s": write_kib_per_s, "write_size_kib": 16, "hot_fraction": 0.3}}},
        }
    )


def site_workers(
    client: TemporalClient,
    queue: str,
    hosts: LabHosts,
    workflows: Sequence[type] = WORKFLOWS,
    drain: timedelta = timedelta(),
    wrap: Mapping[str, Callable[[Callable[..., Any]], Callable[..., Any]]] | None = None,
) -> list[Worker]:
    """A workflow worker on ``queue`` and one worker per site running the real activities over ``hosts``;
    ``wrap`` maps an activity's name to a function that wraps the real activity (to hold or count it).

    Protection comes with its host monitor (MonitorWorkflow and the run-link activities on ``queue``)."""
    calls = HostCalls(hosts)
    wrap = wrap or {}
    activities: list[Callable[..., Any]] = [
        wrap[a.__name__](a) if a.__name__ in wrap else a for a in site_activities(hosts, calls)
    ]
    registered = list(workflows)
    if ProtectionWorkflow in registered and MonitorWorkflow not in registered:
        registered.append(MonitorWorkflow)
    workers = [
        Worker(
            client,
            task_queue=queue,
            workflows=registered,
            activities=workflow_activities(client),
            graceful_shutdown_timeout=drain,
        )
    ]
    workers += [
        Worker(client, task_queue=site_task_queue(site), activities=activities, graceful_shutdown_timeout=drain)
        for site in SITES
    ]
    return workers
