"""The lab's state: every host, VMM server, fault and counter, one clock, one lock, one event queue.

``LabBackend`` is the registry the cmdlets and the control API work on (moto's backend). Scheduled work —
replication cycles, initial replication, resynchronization — sits in one heap of timed events and runs in
time order when anyone calls :meth:`LabBackend.sync` (every cmdlet does, and the runner's ticker does a few
times a second), so one ticker serves every host and a thousand VMs cost a heap pop each per cycle.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hvdr.lab.models import errors
from hvdr.lab.models.clock import LabClock, to_datetime
from hvdr.lab.models.enums import VMReplicationMode, VMState
from hvdr.lab.models.faults import KINDS, Fault, FaultSet
from hvdr.lab.models.hosts import LabHost
from hvdr.lab.models.replication import ReplicationSettings
from hvdr.lab.models.vmm import LabVMMServer
from hvdr.lab.models.workload import Workload
from hvdr.lab.seam import PSError, WireFaults

CALL_LOG_MAX = 200_000

if TYPE_CHECKING:
    from array import array

    from hvdr.lab.models.replication import Relationship, Task
    from hvdr.lab.models.vms import Shutdown, VirtualMachine


@dataclass
class ExportMedia:
    """An offline initial-replication copy (Start-VMInitialReplication -DestinationPath)."""

    path: str
    vm_id: uuid.UUID
    vm_name: str
    primary: str
    contents: list[array[int]]
    created: float


@dataclass
class Transfer:
    """Network figures used to time transfers and report latency (simulated bytes per second)."""

    bandwidth: float = 100 * 1024**2
    base_latency: float = 0.2
    compare_rate: float = 1024**3
    """Resynchronization reads and compares both disks at this rate."""


class LabBackend:
    """Registry of the lab's hosts (keyed by FQDN, lower case), with ``reset()``."""

    def __init__(self, clock: LabClock | None = None, workload: Workload | None = None) -> None:
        self.clock = clock or LabClock(speed=0)
        self.workload = workload or Workload()
        self.transfer = Transfer()
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        """Notified when the clock jumps; a cmdlet waiting on simulated time (:meth:`wait`) sleeps on it."""
        self.sites: list[str] = []
        self.hosts: dict[str, LabHost] = {}
        self.vmm_servers: dict[str, LabVMMServer] = {}
        self.faults = FaultSet()
        self.calls: Counter[tuple[str, str, str | None]] = Counter()
        self.call_log: deque[tuple[float, str, str, str | None]] = deque(maxlen=CALL_LOG_MAX)
        """The calls in order (lab time, host, cmdlet, VM): what ran before what."""
        self.exports: dict[str, ExportMedia] = {}
        self.failovers: list[dict[str, Any]] = []
        """Every failover of a replica (not a test), with both copies' disk checksums at that moment."""
        self.cycles_completed = 0
        self._version = 1
        self._events: list[tuple[float, int, str, Any, Any]] = []
        """(at, seq, kind, subject, payload): a Relationship and its Task, or a VM and its Shutdown."""
        self._seq = itertools.count()

    # -- registry ------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every host, VM, fault, counter and scheduled event."""
        with self.lock:
            self.sites.clear()
            self.hosts.clear()
            self.vmm_servers.clear()
            self.faults = FaultSet()
            self.calls.clear()
            self.call_log.clear()
            self.exports.clear()
            self.failovers.clear()
            self._events.clear()
            self.cycles_completed = 0

    def add_host(self, host: LabHost) -> LabHost:
        self.hosts[host.fqdn.lower()] = host
        if host.site not in self.sites:
            self.sites.append(host.site)
        return host

    def add_vmm(self, server: LabVMMServer) -> LabVMMServer:
        self.vmm_servers[server.fqdn.lower()] = server
        return server

    def host(self, name: str) -> LabHost | None:
        """A Hyper-V host by FQDN or short name (case-insensitive)."""
        found = self.hosts.get(name.lower())
        if found is not None:
            return found
        return next((h for h in self.hosts.values() if h.answers_to(name)), None)

    def require_host(self, name: str) -> LabHost:
        found = self.host(name)
        if found is None:
            raise KeyError(f"no host named {name!r} in the lab")
        return found

    def vmm(self, name: str) -> LabVMMServer | None:
        lowered = name.lower()
        return next((v for v in self.vmm_servers.values() if lowered in (v.fqdn.lower(), v.short_name.lower())), None)

    def endpoint_name(self, name: str) -> str | None:
        """The FQDN of a Hyper-V host or VMM server known by that name."""
        host = self.host(name)
        if host is not None:
            return host.fqdn
        vmm = self.vmm(name)
        return vmm.fqdn if vmm is not None else None

    def site_of(self, fqdn: str) -> str | None:
        host = self.host(fqdn)
        if host is not None:
            return host.site
        vmm = self.vmm(fqdn)
        return vmm.site if vmm is not None else None

    def find_vm(self, host_name: str, vm_id: uuid.UUID) -> VirtualMachine | None:
        host = self.host(host_name)
        return host.vms.get(vm_id) if host is not None else None

    def all_vms(self) -> list[VirtualMachine]:
        return [vm for host in self.hosts.values() for vm in host.vms.values()]

    # -- time and scheduled work ---------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.time()

    def next_versions(self, count: int) -> int:
        """Reserve ``count`` fresh content versions; returns the first."""
        first = self._version
        self._version += count
        return first

    def catch_up(self, vm: VirtualMachine, until: float) -> None:
        """Bring a VM's disks (and replica log) to ``until``: generate its guest writes, check its log."""
        if self.workload.catch_up(vm, until, self.next_versions):
            from hvdr.lab.models import engine

            engine.check_log_limit(self, vm, until)

    def schedule(
        self, at: float, kind: str, subject: Relationship | VirtualMachine, payload: Task | Shutdown | None = None
    ) -> None:
        heapq.heappush(self._events, (at, next(self._seq), kind, subject, payload))

    def sync(self, until: float | None = None) -> None:
        """Run every scheduled event due by ``until`` (default: now), in time order."""
        from hvdr.lab.models import engine, guest

        with self.lock:
            limit = self.now() if until is None else until
            events = self._events
            while events and events[0][0] <= limit:
                at, _, kind, subject, payload = heapq.heappop(events)
                if kind in guest.KINDS:
                    guest.dispatch(self, at, kind, subject, payload)
                else:
                    engine.dispatch(self, at, kind, subject, payload)

    def advance(self, seconds: float) -> None:
        """Move the clock forward and run what fell due (tests, ``POST /clock``)."""
        with self.lock:
            self.clock.advance(seconds)
            self.sync()
            self.changed.notify_all()

    def wait(self, until: float, done: Callable[[], bool] = lambda: False) -> None:
        """Block the calling cmdlet until ``done()`` or simulated time ``until``, running what falls due.

        The lock is released while waiting, so other cmdlets and the control API go on. With the clock
        frozen (speed 0: deterministic tests) nothing else would move it, so the call moves it itself: the
        cmdlet takes that much simulated time.
        """
        with self.changed:
            while True:
                self.sync()
                now = self.now()
                if done() or now >= until:
                    return
                if self.clock.speed == 0:  # step to the next event (it may be the one waited for) or the end
                    self.clock.advance(min(until, self._events[0][0] if self._events else until) - now)
                    continue
                self.changed.wait(min(self.clock.real_seconds(until - now) + 0.001, 0.25))

    def pending_events(self) -> int:
        return len(self._events)

    # -- connectivity --------------------------------------------------------------------------------------

    def connect(self, source: LabHost, target_name: str) -> LabHost:
        """The Replica server a primary reaches by that name, or the error Hyper-V reports."""
        target = self.host(target_name)
        if target is None:
            raise errors.unreachable(target_name, "The server name or address could not be resolved (0x00002EE7).")
        if self.faults.host_down(source.fqdn) or self.faults.host_down(target.fqdn):
            raise errors.unreachable(target_name, "The operation timed out (0x00002EE2).")
        if self.faults.partitioned(source.site, target.site):
            raise errors.unreachable(target_name, "A connection with the server could not be established (0x00002EFD).")
        return target

    def admit(self, target: LabHost, primary_fqdn: str, settings: ReplicationSettings, vm_name: str) -> str:
        """Check that the Replica server accepts this primary; returns the storage location for its replica."""
        rs = target.replica_server
        name = settings.replica_server
        kerberos = settings.auth.name == "Kerberos"
        if not rs.enabled:
            raise errors.unreachable(name, f"The server '{target.fqdn}' is not enabled as a Replica server.")
        port = rs.kerberos_port if kerberos else rs.certificate_port
        if (kerberos and not rs.accepts_kerberos()) or (not kerberos and not rs.accepts_certificate()):
            raise errors.authentication_failed(
                name,
                settings.auth.name,
                f"The Replica server does not accept {settings.auth.name} authentication (it allows {rs.auth.name}).",
            )
        if settings.replica_port != port:
            raise errors.unreachable(
                name, f"No Replica server listener answered on port {settings.replica_port} (0x00002EFD)."
            )
        storage = rs.storage_for(primary_fqdn)
        if storage is None:
            raise errors.authentication_failed(
                name,
                settings.auth.name,
                f"The Replica server is not configured to accept replication from the primary server "
                f"'{primary_fqdn}' (0x80070005).",
            )
        if self.faults.storage_full(target.fqdn):
            raise errors.insufficient_storage(name, vm_name)
        return storage

    # -- faults --------------------------------------------------------------------------------------------

    def add_fault(self, kind: str, **params: Any) -> Fault:
        """Inject a fault (see ``faults``); host names may be short; raises ValueError on bad input."""
        with self.lock:
            self.sync()
            if kind not in KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}")
            missing = [p for p in KINDS[kind] if params.get(p) in (None, "")]
            if missing:
                raise ValueError(f"fault {kind} needs {', '.join(missing)}")
            if "host" in params:
                fqdn = self.endpoint_name(str(params["host"]))
                if fqdn is None:
                    raise ValueError(f"no host named {params['host']!r} in the lab")
                params["host"] = fqdn
            for key in ("site_a", "site_b"):
                if key in params and params[key] not in self.sites:
                    raise ValueError(f"no site named {params[key]!r} in the lab")
            target = self.host(str(params.get("host", "")))
            if "vm" in params and (target is None or not target.vms_named(str(params["vm"]))):
                raise ValueError(f"no VM named {params['vm']!r} on {params['host']}")
            for key in ("seconds", "rate"):
                if key in params:
                    params[key] = float(params[key])
                    if params[key] < 0 or (key == "rate" and params[key] > 1):
                        raise ValueError(f"{key} out of range: {params[key]}")
            fault = self.faults.add(kind, {k: params[k] for k in KINDS[kind]}, self.now())
            if kind == "crash":
                from hvdr.lab.models import engine

                engine.crash_host(self, self.require_host(params["host"]), fault.created)
            self.apply_guest_faults()
            return fault

    def clear_fault(self, fault_id: str) -> Fault | None:
        with self.lock:
            self.sync()
            fault = self.faults.remove(fault_id)
            if fault is not None:
                self._after_clear(fault)
                self.apply_guest_faults()
            return fault

    def clear_faults(self) -> list[Fault]:
        with self.lock:
            self.sync()
            removed = self.faults.clear()
            for fault in removed:
                self._after_clear(fault)
            self.apply_guest_faults()
            return removed

    def apply_guest_faults(self) -> None:
        """Set each VM's guest flags from the guest faults in force (after a change, or a new VM)."""
        for host in self.hosts.values():
            for vm in host.vms.values():
                guest = self.faults.guest(host.fqdn, vm.name)
                vm.hung = "hung_guest" in guest
                vm.integration_services_off = "integration_services_off" in guest
                vm.slow_boot_s = guest.get("slow_boot", 0.0)

    def _after_clear(self, fault: Fault) -> None:
        if fault.kind in ("crash", "host_down"):
            host = self.host(fault.params["host"])
            if host is not None:
                now = self.now()
                for vm in host.vms.values():
                    vm.written_until = max(vm.written_until, now)

    def crashed(self, fqdn: str) -> bool:
        """The host is powered off by a ``crash`` fault: nothing runs on it until the fault is cleared."""
        return any(f.kind == "crash" and f.params["host"] == fqdn for f in self.faults.faults.values())

    def wire_faults(self, fqdn: str) -> WireFaults:
        return self.faults.wire(fqdn)

    # -- calls ---------------------------------------------------------------------------------------------

    def record_call(self, host: str, cmdlet: str, vm_names: list[str]) -> None:
        now = self.now()
        if not vm_names:
            self.calls[(host, cmdlet, None)] += 1
            self.call_log.append((now, host, cmdlet, None))
        for name in vm_names:
            self.calls[(host, cmdlet, name)] += 1
            self.call_log.append((now, host, cmdlet, name))

    def call_counts(self) -> list[dict[str, Any]]:
        return [
            {"host": host, "cmdlet": cmdlet, "vm": vm, "count": count}
            for (host, cmdlet, vm), count in sorted(
                self.calls.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")
            )
        ]

    # -- the truth, for the control API ------------------------------------------------------------------

    def record_failover(self, replica: VirtualMachine, primary_server: str, kind: str, at: float) -> None:
        """Note a failover with what each copy holds: the replica as it failed over, the source as it is then (a
        prepared planned failover's source is off and fully sent, so the two are equal unless blocks were lost)."""
        source = self.find_vm(primary_server, replica.id)
        lost: int | None = None
        if source is not None:
            self.catch_up(source, at)
            lost = sum(  # over the disks replication carries: an excluded one never reaches the replica
                sum(1 for a, b in zip(mine.blocks, theirs.blocks, strict=False) if a != b)
                for mine, theirs in zip(replica.disks, source.disks, strict=False)
                if not mine.excluded
            )
        self.failovers.append(
            {
                "vm": replica.name,
                "id": str(replica.id),
                "kind": kind,
                "at": to_datetime(at).isoformat(),
                "replica_host": replica.host.fqdn,
                "source_host": source.host.fqdn if source is not None else primary_server,
                "replica_checksum": replica.replicated_checksum(),
                "source_checksum": source.replicated_checksum() if source is not None else None,
                "blocks_lost": lost,
            }
        )

    def vm_report(self) -> list[dict[str, Any]]:
        """Every VM copy on every host, with its disks' checksum (brought up to now first)."""
        from hvdr.lab.models import guest

        with self.lock:
            self.sync()
            now = self.now()
            split = {uuid.UUID(row["id"]) for row in guest.split_brain(self)}
            rows = []
            for host in self.hosts.values():
                for vm in host.vms.values():
                    self.catch_up(vm, now)
                    rel = vm.replication
                    rows.append(
                        {
                            "name": vm.name,
                            "id": str(vm.id),
                            "host": host.fqdn,
                            "site": host.site,
                            "power_state": vm.state.name,
                            "replication_mode": vm.mode.name,
                            "replication_state": "Disabled" if vm.test_of else vm.replication_state.name,
                            "replication_health": rel.health(now).name if rel and not vm.test_of else "NotApplicable",
                            "last_replication_time": to_datetime(rel.last_replication_time).isoformat()
                            if rel and rel.last_replication_time
                            else None,
                            "pending_bytes": rel.pending_bytes() if rel else 0,
                            "recovery_points": len(rel.history.points) if rel else 0,
                            "disk_checksum": vm.checksum(),
                            "replicated_checksum": vm.replicated_checksum(),
                            "tier": vm.tier,
                            "heartbeat": hb.name if (hb := vm.heartbeat(now)) is not None else None,
                            "split_brain": vm.id in split,
                        }
                    )
            return rows

    def status(self) -> dict[str, Any]:
        from hvdr.lab.models import guest

        with self.lock:
            return {
                "status": "ok",
                "time": self.clock.now().isoformat(),
                "speed": self.clock.speed,
                "hosts": len(self.hosts),
                "vmm_servers": len(self.vmm_servers),
                "vms": sum(len(h.vms) for h in self.hosts.values()),
                "replicating": sum(
                    1
                    for vm in self.all_vms()
                    if vm.replication is not None and vm.replication.mode is VMReplicationMode.Primary
                ),
                "running": sum(1 for vm in self.all_vms() if vm.state is VMState.Running),
                "cycles_completed": self.cycles_completed,
                "faults": len(self.faults.faults),
                "scheduled_events": len(self._events),
                "split_brain": guest.split_brain(self),
            }


def ps_error_text(error: PSError) -> str:
    return f"{error.error_id}: {error.message}"
