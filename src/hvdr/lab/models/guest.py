"""The guest over time: a shutdown that takes the guest's ``shutdown_s``, Hyper-V's five-minute window, and
what two running copies of one VM mean (split brain).

Stop-VM returns when the VM is Off, as on a real host: the cmdlet waits on the lab's clock (at its speed;
with the clock frozen the call moves it). ``-Force`` gives the guest up to :data:`SHUTDOWN_WINDOW` seconds
("five minutes to save data, then forces" — reference §1.11) and then turns it off; a plain Stop-VM gives up
after the same window with the host's own error (``Failed to stop.``, ``OperationFailed``, category
NotSpecified, as public transcripts show) and leaves the VM running. A *hung guest* accepts the request and
never completes it. The lab's choice where Microsoft is silent: the plain Stop-VM's timeout is the same five
minutes, and a guest slower than the window still finishes its shutdown after the cmdlet gave up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hvdr.lab.models import errors
from hvdr.lab.models.clock import to_datetime
from hvdr.lab.models.enums import VMState
from hvdr.lab.models.vms import Shutdown, VirtualMachine

if TYPE_CHECKING:
    from hvdr.lab.models.backend import LabBackend

SHUTDOWN_WINDOW = 300.0
"""Seconds Hyper-V waits for a guest shutdown before -Force turns the VM off (or a plain Stop-VM fails)."""
KINDS = ("guest_off", "guest_deadline")


def stop(b: LabBackend, vm: VirtualMachine, *, force: bool = False, turn_off: bool = False, save: bool = False) -> None:
    """Stop-VM: returns once the VM is Off (or Saved); raises the host's error when the guest does not stop."""
    now = b.now()
    b.catch_up(vm, now)
    request = vm.stopping
    if request is None or turn_off or save:
        if vm.stop(now, force=force, turn_off=turn_off, save=save):
            return
        off_at = None if vm.hung else now + vm.shutdown_s
        request = Shutdown(force, off_at, now + SHUTDOWN_WINDOW)
        vm.stopping = request
        if off_at is not None:
            b.schedule(off_at, "guest_off", vm, request)
        b.schedule(request.deadline, "guest_deadline", vm, request)
    elif force and not request.force:
        request.force = True  # a -Force joining a shutdown in progress makes its deadline force the VM off
    b.wait(request.deadline, lambda: request.outcome is not None)
    if request.outcome == "timeout":
        raise errors.operation_failed(
            f"Failed to stop. '{vm.name}' failed to shut down: the guest did not complete the shutdown within "
            f"{int(SHUTDOWN_WINDOW)} seconds. (Virtual machine ID {str(vm.id).upper()})",
            vm.name,
        )


def dispatch(b: LabBackend, at: float, kind: str, vm: VirtualMachine, request: Shutdown) -> None:
    """A scheduled guest event: the shutdown completes, or the window closes."""
    if vm.stopping is not request:
        return
    if kind == "guest_off" or (kind == "guest_deadline" and request.force):
        b.catch_up(vm, at)
        vm.power_off()
        request.outcome = "off"
    elif kind == "guest_deadline" and request.outcome is None:
        request.outcome = "timeout"
        if request.off_at is None:
            vm.stopping = None  # a hung guest forgets the request


def split_brain(b: LabBackend) -> list[dict[str, Any]]:
    """VMs with two copies running that have both written since the later copy failed over."""
    copies: dict[Any, list[VirtualMachine]] = {}
    for host in b.hosts.values():
        for vm in host.vms.values():
            if vm.test_of is None and vm.replication is not None:
                copies.setdefault(vm.id, []).append(vm)
    found = []
    now = b.now()
    for group in copies.values():
        failed_over = [
            vm.replication.last_failover_time
            for vm in group
            if vm.replication is not None and vm.replication.last_failover_time is not None
        ]
        if len(group) < 2 or not failed_over:
            continue
        for vm in group:
            b.catch_up(vm, now)
        since = max(failed_over)
        running = [
            vm
            for vm in group
            if vm.state is VMState.Running and vm.last_write_at is not None and vm.last_write_at > since
        ]
        if len(running) >= 2:
            found.append(
                {
                    "name": running[0].name,
                    "id": str(running[0].id),
                    "hosts": [vm.host.fqdn for vm in running],
                    "modes": [vm.mode.name for vm in running],
                    "failed_over_at": to_datetime(since).isoformat(),
                }
            )
    return found


def inject_failover_ip(vm: VirtualMachine) -> None:
    """A failover (planned, unplanned or test) queues the adapters' failover IP for the next boot."""
    vm.failover_ip_pending = any(a.failover_ipv4 or a.failover_ipv6 for a in vm.adapters)


__all__ = ["KINDS", "SHUTDOWN_WINDOW", "dispatch", "inject_failover_ip", "split_brain", "stop"]
