"""The WinRM implementation of :class:`~hvdr.hyperv.protocol.HyperVHost` and ``VMMServer``."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from hvdr.hyperv import parsing, scripts
from hvdr.hyperv.clixml import classify, clixml_text, parse_error
from hvdr.hyperv.connection import HostConnection
from hvdr.hyperv.errors import (
    HyperVError,
    InvalidParameter,
    InvalidReplicationState,
    InvalidVMState,
    ReplicaServerUnreachable,
    ReplicationAuthenticationFailed,
    ScriptFailed,
    ScriptTimedOut,
    VMNotFound,
    WinRMTimeout,
)
from hvdr.hyperv.models import (
    RECOVERY_POINT_TYPES,
    ConnectionTestResult,
    DriveSpace,
    FailoverIPConfig,
    FailoverIPSetting,
    FailoverResult,
    Heartbeat,
    InitialReplicationMethod,
    NetworkAdapter,
    RecoveryPoint,
    ReplicaServerSettings,
    ReplicationHealthReport,
    ReplicationInfo,
    ReplicationMode,
    ReplicationServerInfo,
    ReplicationSettings,
    ReplicationState,
    ReplicationUpdate,
    ScriptResult,
    StopMode,
    VMInfo,
    VMMCloud,
    VMMHost,
    VMMVirtualMachine,
    VMState,
    VMSwitchInfo,
)
from hvdr.hyperv.transport import HyperVTransport, PSResult, WinRMTransport

log = logging.getLogger(__name__)
T = TypeVar("T")
_tracer = trace.get_tracer("hvdr.hyperv")
_CMDLET = re.compile(
    r"(?<!['\"\w-])(?:Get|Set|Enable|Disable|Start|Stop|Suspend|Resume|Remove|Import|Export|Measure|Test|Complete|"
    r"Restart|Add|New|Connect|Disconnect|Checkpoint|Save|Rename|Move|Update|Invoke|Mount|Dismount|Repair)-[A-Z]\w+"
)
_PLUMBING = frozenset({"Get-Member", "Get-Item", "Get-ChildItem", "Get-Variable", "Set-Variable", "New-Object"})


def cmdlets(script: str) -> list[str]:
    """The Hyper-V / VMM cmdlets a script calls, in order of first use (what a trace may say about it)."""
    return [c for c in dict.fromkeys(_CMDLET.findall(script)) if c not in _PLUMBING]


_SUSPENDED = frozenset({ReplicationState.SUSPENDED, ReplicationState.RESYNCHRONIZE_SUSPENDED})
_RUNNING_REPLICATION = frozenset({ReplicationState.REPLICATING, ReplicationState.RESYNCHRONIZING})
_INITIAL_STARTED = frozenset({ReplicationState.INITIAL_REPLICATION_IN_PROGRESS, ReplicationState.REPLICATING})


class _ScriptRunner:
    def __init__(self, transport: HyperVTransport, name: str | None = None) -> None:
        self._transport = transport
        self._name = name or transport.host

    @property
    def name(self) -> str:
        return self._name

    def close(self) -> None:
        self._transport.close()

    def _run(self, script: str, operation: str, *, timeout: float | None = None, vm: str | None = None) -> PSResult:
        # One span per host command: host, operation and cmdlets, never the script (it may carry secrets).
        with _tracer.start_as_current_span(
            f"hyperv {operation}",
            kind=SpanKind.CLIENT,
            attributes={"hvdr.host": self._name, "hvdr.operation": operation, "hvdr.cmdlets": cmdlets(script)},
        ) as span:
            result = self._transport.run(script, timeout=timeout)
            span.set_attribute("hvdr.exit_code", result.exit_code)
        if result.exit_code != 0:
            info = parse_error(result.stderr)
            error = classify(info, operation=operation, host=self._name, exit_code=result.exit_code, vm=vm)
            log.info("host=%s operation=%s error=%s id=%s", self._name, operation, type(error).__name__, info.error_id)
            raise error
        return result

    def _objects(
        self, script: str, operation: str, parse: Callable[[dict[str, Any]], T], *, vm: str | None = None
    ) -> list[T]:
        stdout = self._run(script, operation, vm=vm).stdout
        try:
            return [parse(obj) for obj in parsing.objects(stdout, host=self._name)]
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            raise ScriptFailed(
                f"{operation}: unexpected output shape ({type(exc).__name__}: {str(exc)[:300]})", host=self._name
            ) from None


class WinRMHyperVHost(_ScriptRunner):
    """A Hyper-V host driven over WinRM (or any :class:`HyperVTransport`)."""

    @classmethod
    def connect(cls, connection: HostConnection) -> WinRMHyperVHost:
        return cls(WinRMTransport(connection), connection.name)

    # -- helpers ------------------------------------------------------------------------------------
    def _one(self, script: str, operation: str, vm: str, parse: Callable[[dict[str, Any]], T]) -> T:
        found = self._objects(script, operation, parse, vm=vm)
        if not found:
            raise VMNotFound(vm, host=self._name)
        if len(found) > 1:
            raise InvalidParameter(
                f"{len(found)} virtual machines are named {vm!r}; use a unique name", host=self._name
            )
        return found[0]

    def _replication(
        self,
        script: str,
        operation: str,
        vm: str,
        *,
        done: Callable[[ReplicationInfo], bool] | None = None,
        needs_off: bool = False,
    ) -> ReplicationInfo:
        """Run a replication step; an invalid-state refusal is decided on the state read back.

        ``InvalidState`` names no reason a client can read (the message is localized), so the host is asked:
        a step already ``done`` (retried after a lost answer, say) returns what the host reports; a step that
        ``needs_off`` the VM and finds it on is InvalidVMState; otherwise InvalidReplicationState with the state.
        """
        try:
            return self._one(script, operation, vm, parsing.replication)
        except InvalidReplicationState as error:
            outcome = self._read_back(error, vm, done=done, needs_off=needs_off)
            if isinstance(outcome, ReplicationInfo):
                return outcome
            raise outcome from None

    def _read_back(
        self,
        error: InvalidReplicationState,
        vm: str,
        *,
        done: Callable[[ReplicationInfo], bool] | None,
        needs_off: bool,
    ) -> InvalidReplicationState | ReplicationInfo:
        try:
            info = self.get_vm(vm)
        except HyperVError:
            return error
        error.state = str(info.replication_state)
        if done is not None and info.replication_mode is not ReplicationMode.NONE:
            try:
                current: ReplicationInfo | None = self.get_replication(vm)
            except HyperVError:
                current = None
            if current is not None and done(current):
                log.info("host=%s operation=%s already done (state %s)", self._name, error.operation, current.state)
                return current
        if needs_off and info.state is not VMState.OFF:
            return self._vm_state_error(error, info)
        return error

    def _vm_state_error(self, error: InvalidReplicationState, info: VMInfo) -> InvalidVMState:
        return InvalidVMState(
            str(error).removeprefix(f"{self._name}: "),
            operation=error.operation,
            state=str(info.state),
            host=self._name,
            error_id=error.error_id,
            category=error.category,
        )

    # -- reads --------------------------------------------------------------------------------------
    def list_vms(self) -> list[VMInfo]:
        return self._objects(scripts.list_vms(), "list_vms", parsing.vm)

    def get_vm(self, vm: str) -> VMInfo:
        return self._one(scripts.get_vm(vm), "get_vm", vm, parsing.vm)

    def get_replication(self, vm: str) -> ReplicationInfo:
        return self._replication(scripts.get_replication(vm), "get_replication", vm)

    def measure_replication(self, vm: str | None = None) -> list[ReplicationHealthReport]:
        return self._objects(scripts.measure_replication(vm), "measure_replication", parsing.health)

    def list_recovery_points(self, vm: str) -> list[RecoveryPoint]:
        points = self._objects(scripts.list_recovery_points(vm), "list_recovery_points", parsing.recovery_point)
        return sorted(
            (p for p in points if p.snapshot_type in RECOVERY_POINT_TYPES),
            key=lambda p: (p.creation_time is None, p.creation_time),
        )

    def get_network_adapters(self, vm: str) -> list[NetworkAdapter]:
        return self._objects(scripts.get_network_adapters(vm), "get_network_adapters", parsing.adapter)

    def get_heartbeat(self, vm: str) -> Heartbeat:
        return self._one(scripts.get_heartbeat(vm), "get_heartbeat", vm, parsing.heartbeat)

    # -- the replica server -------------------------------------------------------------------------
    def get_replication_server(self) -> ReplicationServerInfo:
        found = self._objects(scripts.get_replication_server(), "get_replication_server", parsing.replication_server)
        if not found:
            raise ScriptFailed("Get-VMReplicationServer returned nothing", host=self._name)
        return found[0]

    def configure_replica_server(self, settings: ReplicaServerSettings) -> ReplicationServerInfo:
        found = self._objects(
            scripts.configure_replica_server(settings), "configure_replica_server", parsing.replication_server
        )
        if not found:
            raise ScriptFailed("Get-VMReplicationServer returned nothing", host=self._name)
        return found[0]

    def test_replication_connection(self, settings: ReplicationSettings) -> ConnectionTestResult:
        """Succeeded, or not with the host's reason; only transport, credential and parameter errors raise."""
        try:
            stdout = self._run(scripts.test_replication_connection(settings), "test_replication_connection").stdout
        except (ReplicaServerUnreachable, ReplicationAuthenticationFailed) as error:
            return ConnectionTestResult(succeeded=False, message=error.message)
        try:
            items = json.loads(stdout) if stdout.strip() else []
        except json.JSONDecodeError:
            items = [stdout.strip()]
        return parsing.connection_test(items if isinstance(items, list) else [items])

    # -- replication lifecycle ----------------------------------------------------------------------
    def enable_replication(self, vm: str, settings: ReplicationSettings) -> ReplicationInfo:
        return self._replication(scripts.enable_replication(vm, settings), "enable_replication", vm)

    def start_initial_replication(
        self,
        vm: str,
        method: InitialReplicationMethod = InitialReplicationMethod.NETWORK,
        *,
        start_time: datetime | None = None,
        destination_path: str | None = None,
    ) -> ReplicationInfo:
        script = scripts.start_initial_replication(vm, method, start_time=start_time, destination_path=destination_path)
        return self._replication(script, "start_initial_replication", vm, done=lambda r: r.state in _INITIAL_STARTED)

    def import_initial_replication(self, vm: str, path: str) -> ReplicationInfo:
        return self._replication(scripts.import_initial_replication(vm, path), "import_initial_replication", vm)

    def suspend_replication(self, vm: str) -> ReplicationInfo:
        return self._replication(
            scripts.suspend_replication(vm), "suspend_replication", vm, done=lambda r: r.state in _SUSPENDED
        )

    def resume_replication(self, vm: str) -> ReplicationInfo:
        return self._replication(
            scripts.resume_replication(vm), "resume_replication", vm, done=lambda r: r.state in _RUNNING_REPLICATION
        )

    def resynchronize_replication(self, vm: str, start_time: datetime | None = None) -> ReplicationInfo:
        script = scripts.resume_replication(vm, resynchronize=True, start_time=start_time)
        return self._replication(script, "resynchronize_replication", vm)

    def set_replication(self, vm: str, update: ReplicationUpdate) -> ReplicationInfo:
        return self._replication(scripts.set_replication(vm, update), "set_replication", vm)

    def reverse_replication(self, vm: str, update: ReplicationUpdate | None = None) -> ReplicationInfo:
        return self._replication(
            scripts.reverse_replication(vm, update),
            "reverse_replication",
            vm,
            done=lambda r: r.mode is ReplicationMode.PRIMARY,
        )

    def set_as_replica(self, vm: str, allowed_primary_server: str | None = None) -> ReplicationInfo:
        return self._replication(scripts.set_as_replica(vm, allowed_primary_server), "set_as_replica", vm)

    def get_host_time(self) -> datetime:
        found = self._objects(scripts.get_host_time(), "get_host_time", lambda obj: parsing.ps_datetime(obj["Now"]))
        if not found or found[0] is None:
            raise ScriptFailed("get_host_time: the host returned no time", host=self._name)
        return found[0]

    def get_drive_space(self, path: str) -> DriveSpace:
        found = self._objects(scripts.get_drive_space(path), "get_drive_space", parsing.drive_space)
        if not found:
            raise ScriptFailed(f"get_drive_space: no drive holds {path!r}", host=self._name)
        return found[0]

    def list_switches(self) -> list[VMSwitchInfo]:
        return self._objects(scripts.list_switches(), "list_switches", parsing.vm_switch)

    def remove_vm(self, vm: str) -> None:
        try:
            self._run(scripts.remove_vm(vm), "remove_vm", vm=vm)
        except InvalidReplicationState as error:
            try:
                info = self.get_vm(vm)
            except HyperVError:
                raise error from None
            raise (self._vm_state_error(error, info) if info.state is not VMState.OFF else error) from None

    def remove_replication(self, vm: str) -> VMInfo:
        return self._one(scripts.remove_replication(vm), "remove_replication", vm, parsing.vm)

    # -- power --------------------------------------------------------------------------------------
    def stop_vm(self, vm: str, mode: StopMode = StopMode.SHUTDOWN) -> VMInfo:
        return self._power(scripts.stop_vm(vm, mode), "stop_vm", vm, VMState.OFF)

    def start_vm(self, vm: str) -> VMInfo:
        return self._power(scripts.start_vm(vm), "start_vm", vm, VMState.RUNNING)

    def _power(self, script: str, operation: str, vm: str, wanted: VMState) -> VMInfo:
        """A power change refused as InvalidState is done when the VM is already where it was asked to go."""
        try:
            return self._one(script, operation, vm, parsing.vm)
        except InvalidReplicationState as error:
            try:
                info = self.get_vm(vm)
            except HyperVError:
                raise error from None
            if info.state is wanted:
                return info
            raise self._vm_state_error(error, info) from None

    # -- failover -----------------------------------------------------------------------------------
    def prepare_failover(self, vm: str) -> ReplicationInfo:
        return self._replication(
            scripts.prepare_failover(vm),
            "prepare_failover",
            vm,
            done=lambda r: r.state is ReplicationState.PREPARED_FOR_FAILOVER,
            needs_off=True,
        )

    def start_failover(
        self, vm: str, *, recovery_point: uuid.UUID | None = None, as_test: bool = False
    ) -> FailoverResult:
        script = scripts.start_failover(vm, recovery_point=recovery_point, as_test=as_test)
        info = self._replication(
            script,
            "start_test_failover" if as_test else "start_failover",
            vm,
            done=(lambda r: r.test_vm_name is not None)
            if as_test
            else (lambda r: r.state is ReplicationState.FAILED_OVER_WAITING_COMPLETION),
            needs_off=not as_test,
        )
        test_vm = (info.test_vm_name or f"{vm} - Test") if as_test else None
        return FailoverResult(replication=info, test_vm_name=test_vm)

    def complete_failover(self, vm: str) -> ReplicationInfo:
        return self._replication(
            scripts.complete_failover(vm),
            "complete_failover",
            vm,
            done=lambda r: r.state is ReplicationState.FAILED_OVER,
        )

    def stop_failover(self, vm: str) -> ReplicationInfo:
        return self._replication(
            scripts.stop_failover(vm),
            "stop_failover",
            vm,
            done=lambda r: r.state is ReplicationState.REPLICATING and r.test_vm_name is None,
        )

    # -- networking ---------------------------------------------------------------------------------
    def connect_network_adapter(
        self, vm: str, switch_name: str, adapter_name: str | None = None
    ) -> list[NetworkAdapter]:
        script = scripts.connect_network_adapter(vm, switch_name, adapter_name)
        return self._objects(script, "connect_network_adapter", parsing.adapter)

    def set_failover_ip(
        self, vm: str, config: FailoverIPConfig, adapter_name: str | None = None
    ) -> list[NetworkAdapter]:
        return self._objects(scripts.set_failover_ip(vm, config, adapter_name), "set_failover_ip", parsing.adapter)

    def get_failover_ip(self, vm: str) -> list[FailoverIPSetting]:
        return self._objects(scripts.get_failover_ip(vm), "get_failover_ip", parsing.failover_ip)

    def set_test_switch(self, vm: str, switch_name: str, adapter_name: str | None = None) -> list[NetworkAdapter]:
        script = scripts.set_test_switch(vm, switch_name, adapter_name)
        return self._objects(script, "set_test_switch", parsing.adapter)

    # -- many VMs in one command (a recovery plan's batches) -------------------------------------------
    # Each returns what the host reports for the VMs it found; a refusal of any VM raises for the whole
    # command (the prologue's -ErrorAction Stop), and the caller then takes each VM on its own with the
    # single-VM method, whose read-back decides what the refusal meant.
    def get_vms(self, vms: Sequence[str]) -> list[VMInfo]:
        return self._objects(scripts.get_vm(vms), "get_vm", parsing.vm)

    def get_replications(self, vms: Sequence[str]) -> list[ReplicationInfo]:
        return self._objects(scripts.get_replication(vms), "get_replication", parsing.replication)

    def get_adapters_of(self, vms: Sequence[str]) -> list[NetworkAdapter]:
        return self._objects(scripts.get_network_adapters(vms), "get_network_adapters", parsing.adapter)

    def get_heartbeats(self, vms: Sequence[str]) -> list[Heartbeat]:
        return self._objects(scripts.get_heartbeats(vms), "get_heartbeat", parsing.heartbeat)

    def stop_vms(self, vms: Sequence[str], mode: StopMode = StopMode.SHUTDOWN) -> list[VMInfo]:
        return self._objects(scripts.stop_vm(vms, mode), "stop_vm", parsing.vm)

    def start_vms(self, vms: Sequence[str]) -> list[VMInfo]:
        return self._objects(scripts.start_vm(vms), "start_vm", parsing.vm)

    def prepare_failovers(self, vms: Sequence[str]) -> list[ReplicationInfo]:
        return self._objects(scripts.prepare_failover(vms), "prepare_failover", parsing.replication)

    def start_failovers(self, vms: Sequence[str]) -> list[ReplicationInfo]:
        return self._objects(scripts.start_failover(vms), "start_failover", parsing.replication)

    def reverse_replications(self, vms: Sequence[str]) -> list[ReplicationInfo]:
        return self._objects(scripts.reverse_replication(vms), "reverse_replication", parsing.replication)

    def stop_failovers(self, vms: Sequence[str]) -> list[ReplicationInfo]:
        return self._objects(scripts.stop_failover(vms), "stop_failover", parsing.replication)

    def connect_network_adapters(self, vms: Sequence[str], switch_name: str) -> list[NetworkAdapter]:
        return self._objects(
            scripts.connect_network_adapter(vms, switch_name), "connect_network_adapter", parsing.adapter
        )

    # -- operator scripts ---------------------------------------------------------------------------
    def run_script(self, script: str, timeout_s: float) -> ScriptResult:
        """Run an operator's script; a non-zero exit or an error is ScriptFailed, the timeout ScriptTimedOut."""
        started = time.monotonic()
        try:
            result = self._transport.run(scripts.operator_script(script), timeout=timeout_s)
        except WinRMTimeout:
            if time.monotonic() - started < timeout_s:
                raise
            raise ScriptTimedOut(
                f"the operator script was still running after {timeout_s:g} s and was stopped", host=self._name
            ) from None
        elapsed = time.monotonic() - started
        # An error record fails the script even when it went on and exited 0 (a non-terminating error written
        # under $ErrorActionPreference = 'Continue', which powershell.exe's exit code does not show).
        errors = clixml_text(result.stderr) if result.stderr.strip() else ""
        if result.exit_code != 0 or errors:
            info = parse_error(result.stderr) if errors else None
            reason = info.message if info else "no error output"
            how = f"exited with code {result.exit_code}" if result.exit_code else "wrote an error (exit code 0)"
            raise ScriptFailed(
                f"the operator script {how}: {reason}",
                host=self._name,
                script_exit_code=result.exit_code,
                error_id=info.error_id if info else None,
                output=result.stdout,
            )
        return ScriptResult(stdout=result.stdout, exit_code=0, duration_seconds=elapsed)


class WinRMVMMServer(_ScriptRunner):
    """A VMM server's discovery reads over WinRM."""

    @classmethod
    def connect(cls, connection: HostConnection) -> WinRMVMMServer:
        return cls(WinRMTransport(connection), connection.name)

    def list_clouds(self) -> list[VMMCloud]:
        return self._objects(scripts.vmm_clouds(), "list_clouds", parsing.vmm_cloud)

    def list_hosts(self) -> list[VMMHost]:
        return self._objects(scripts.vmm_hosts(), "list_hosts", parsing.vmm_host)

    def list_vms(self) -> list[VMMVirtualMachine]:
        return self._objects(scripts.vmm_vms(), "list_vms", parsing.vmm_vm)
