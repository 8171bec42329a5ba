"""ProtectionWorkflow (id ``protect/<vm>``): enable → initial copy → delta cycles, for as long as the VM is
protected.

All state is one ``ProtectionState``; operator commands are updates whose validators refuse what the phase
does not allow, and which the main loop executes one at a time between monitoring ticks, so a command never
races a tick's healing action. While a failover of the VM runs (``begin_failover`` … ``end_failover``) the run
issues no commands to the hosts and afterwards continues in the new direction. Histories stay small:
the run continues-as-new with its state when Temporal suggests it or after ``MAX_TICKS_PER_RUN`` ticks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from hvdr.activities import options
    from hvdr.activities.protection import (
        HostVM,
        ImportInput,
        InitialReplicationInput,
        MeasureInput,
        Measurement,
        ProtectionActivities,
        ReplicaServerInput,
        ReplicationInput,
        ResyncInput,
        UpdateInput,
        replica_server_settings,
        replication_settings,
    )
    from hvdr.hyperv import models as hv
    from hvdr.protection import (
        Alert,
        CommandResult,
        DisableRequest,
        FailoverBegin,
        FailoverEnd,
        Phase,
        PolicyChange,
        ProtectionInput,
        ProtectionState,
        ProtectionStatus,
        ResyncRequest,
        Sample,
    )
    from hvdr.settings import site_task_queue
    from hvdr.visibility import HVDR_PHASE, HVDR_SITE

MAX_TICKS_PER_RUN = 500
HISTORY_SAMPLES = 48
MONITORED = (Phase.REPLICATING, Phase.PAUSED, Phase.RESYNCHRONIZING)


T = TypeVar("T")


@dataclass
class _Command:
    id: str
    name: str
    argument: Any


class LifecycleError(Exception):
    """A host reached a state that ends the bring-up (the run then waits in phase ``failed``)."""


def _reason(error: BaseException) -> str:
    cause: BaseException | None = error
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause)


@workflow.defn(name="Protection")
class ProtectionWorkflow:
    @workflow.init
    def __init__(self, request: ProtectionInput) -> None:
        self.state: ProtectionState = request.state
        self._queue: list[_Command] = []
        self._results: dict[str, CommandResult | str] = {}
        self._ticks_this_run = 0

    # -- the lifecycle ----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: ProtectionInput) -> ProtectionStatus:
        s = self.state
        self._publish()
        while s.phase is not Phase.DISABLED:
            if self._at(Phase.PREFLIGHT, Phase.ENABLING, Phase.INITIAL_REPLICATION):
                await self._bring_up()
            while self._queue:
                await self._execute(self._queue.pop(0))
            if self._at(Phase.DISABLED):  # a command may have disabled it
                break
            if s.phase in MONITORED:
                await self._tick()
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._queue:
                    s.continued += 1
                    workflow.continue_as_new(ProtectionInput(state=s))
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: bool(self._queue), timeout=self._tick_interval())
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ProtectionStatus.of(s)

    async def _bring_up(self) -> None:
        s = self.state
        try:
            if s.phase is Phase.PREFLIGHT:
                await self._preflight()
                self._set_phase(Phase.ENABLING)
            if s.phase is Phase.ENABLING:
                info = await self._on_primary(
                    ProtectionActivities.enable_replication, self._replication_input(), "enable replication"
                )
                self._observe(info)
                self._set_phase(Phase.INITIAL_REPLICATION)
            if s.phase is Phase.INITIAL_REPLICATION:
                await self._initial_replication()
                self._set_phase(Phase.REPLICATING)
                s.initial_progress = None
        except (ActivityError, LifecycleError) as error:
            s.error = f"{s.phase.value}: {_reason(error)}"
            self._raise_alert("preflight" if s.phase is Phase.PREFLIGHT else "replication_error", "critical", s.error)
            self._set_phase(Phase.FAILED)

    async def _preflight(self) -> None:
        spec = self.state.spec
        settings = replica_server_settings(spec)
        await self._activity(
            ProtectionActivities.ensure_replica_server,
            ReplicaServerInput(host=spec.replica.host, settings=settings, needed_bytes=spec.replicated_bytes),
            spec.replica.site,
            "check the replica server",
        )
        await self._on_primary(
            ProtectionActivities.test_replication_connection, self._replication_input(), "test the connection"
        )

    async def _initial_replication(self) -> None:
        spec, s = self.state.spec, self.state
        method = spec.policy.initial_replication
        kind = {"network_now": "network", "scheduled": "scheduled", "offline": "export"}[method.method]
        request = InitialReplicationInput(
            host=spec.primary.host,
            vm=spec.vm,
            method=hv.InitialReplicationMethod(kind),
            start_time=getattr(method, "at", None),
            export_path=getattr(method, "export_path", None),
        )
        info = await self._on_primary(ProtectionActivities.start_initial_replication, request, "start the initial copy")
        self._observe(info)
        if method.method == "offline":
            await self._wait_for(
                spec.primary.host,
                spec.primary.site,
                {hv.ReplicationState.REPLICATING, hv.ReplicationState.INITIAL_REPLICATION_IN_PROGRESS},
                progress=False,
            )
            self._details("importing the initial copy on the replica host")
            await self._activity(
                ProtectionActivities.import_initial_replication,
                ImportInput(host=spec.replica.host, vm=spec.vm, path=getattr(method, "import_path", "")),
                spec.replica.site,
                "import the initial copy",
            )
        await self._wait_for(spec.primary.host, spec.primary.site, {hv.ReplicationState.REPLICATING}, progress=True)
        s.initial_progress = 1.0

    async def _wait_for(self, host: str, site: str, states: set[hv.ReplicationState], *, progress: bool) -> None:
        """Poll the primary until the VM is in one of the states, keeping progress in the state for the UI."""
        s = self.state
        while True:
            measurement = await self._measure(host, site, max_age_s=0)
            report = measurement.report if measurement else None
            if report is not None:
                state = hv.ReplicationState(report.state)
                s.replication_state, s.health = state.value, report.health.value
                if progress and report.initial_replication_bytes:
                    sent = report.initial_replication_bytes - report.pending_replication_bytes
                    s.initial_progress = round(max(0.0, min(1.0, sent / report.initial_replication_bytes)), 3)
                if state in states:
                    return
                if state in (hv.ReplicationState.ERROR, hv.ReplicationState.DISABLED):
                    raise LifecycleError(f"{s.spec.vm} went to {state.value} during the initial copy")
            self._details(
                f"initial copy of **{s.spec.vm}** → {s.spec.replica.host}: "
                + (f"{s.initial_progress:.0%}" if s.initial_progress is not None else "waiting")
            )
            await workflow.sleep(self.state.spec.host_seconds(5))

    # -- monitoring ---------------------------------------------------------------------------------------

    def _tick_interval(self) -> timedelta:
        spec = self.state.spec
        return spec.host_seconds(spec.policy.copy_frequency_s)

    async def _measure(self, host: str, site: str, max_age_s: float) -> Measurement | None:
        try:
            return await workflow.execute_activity_method(
                ProtectionActivities.measure_replication,
                MeasureInput(host=host, vm=self.state.spec.vm, max_age_s=max_age_s),
                task_queue=site_task_queue(site),
                summary=f"measure replication on {host}",
                **options.MEASURE.kwargs(),
            )
        except ActivityError as error:
            self._raise_alert("monitoring", "warning", f"cannot measure replication on {host}: {_reason(error)}")
            return None

    async def _tick(self) -> None:
        s, spec = self.state, self.state.spec
        s.ticks += 1
        self._ticks_this_run += 1
        tick = self._tick_interval().total_seconds()
        measurement = await self._measure(spec.primary.host, spec.primary.site, max_age_s=tick / 2)
        s.updated_at = workflow.now()
        if measurement is None:
            return
        self._clear_alert("monitoring")
        report = measurement.report
        if report is None:
            self._raise_alert("replication_error", "critical", f"{spec.vm} is not replicating on {spec.primary.host}")
            return
        state = hv.ReplicationState(report.state)
        s.replication_state, s.health = state.value, report.health.value
        s.last_replication = report.last_replication_time
        s.rpo_s = (
            round((measurement.host_time - report.last_replication_time).total_seconds(), 1)
            if report.last_replication_time
            else None
        )
        s.history = [*s.history, Sample(at=s.updated_at, state=state.value, health=s.health, rpo_s=s.rpo_s)][
            -HISTORY_SAMPLES:
        ]
        self._evaluate_alerts(report)
        await self._heal(state)
        self._details(self._summary())

    def _evaluate_alerts(self, report: hv.ReplicationHealthReport) -> None:
        s, policy = self.state, self.state.spec.policy
        threshold = policy.rpo_alert_threshold_s
        if s.rpo_s is not None and s.rpo_s > threshold:
            self._raise_alert(
                "rpo",
                "critical" if s.rpo_s > 2 * threshold else "warning",
                f"RPO {s.rpo_s:.0f} s is over the policy's {threshold} s",
            )
        elif s.rpo_s is not None:
            self._clear_alert("rpo")
        if report.health is hv.ReplicationHealth.NORMAL:
            self._clear_alert("health")
        elif report.health in (hv.ReplicationHealth.WARNING, hv.ReplicationHealth.CRITICAL):
            detail = "; ".join(report.health_details) or f"replication health is {report.health.value}"
            self._raise_alert(
                "health", "critical" if report.health is hv.ReplicationHealth.CRITICAL else "warning", detail
            )
        if report.missed_replication_count > s.missed_cycles:
            self._raise_alert(
                "missed_cycles",
                "warning",
                f"{report.missed_replication_count - s.missed_cycles} replication cycle(s) missed",
            )
        elif report.missed_replication_count <= s.missed_cycles:
            self._clear_alert("missed_cycles")
        s.missed_cycles = report.missed_replication_count

    async def _heal(self, state: hv.ReplicationState) -> None:
        s, spec = self.state, self.state.spec
        if s.phase is Phase.RESYNCHRONIZING and state is hv.ReplicationState.REPLICATING:
            s.resyncs += 1
            self._set_phase(Phase.REPLICATING)
        if state is hv.ReplicationState.RESYNCHRONIZING and s.phase is Phase.REPLICATING:
            self._set_phase(Phase.RESYNCHRONIZING)
        if s.phase is Phase.PAUSED or not spec.policy.auto_heal:
            return
        try:
            if state in (hv.ReplicationState.SUSPENDED, hv.ReplicationState.ERROR):
                self._raise_alert("replication_error", "critical", f"replication is {state.value}; resuming it")
                await self._on_primary(ProtectionActivities.resume_replication, self._host_vm(), "resume replication")
                s.heals += 1
            elif state is hv.ReplicationState.WAITING_FOR_START_RESYNCHRONIZE:
                self._raise_alert("replication_error", "critical", "resynchronization is required")
                start = self._resync_start()
                await self._on_primary(
                    ProtectionActivities.resynchronize_replication,
                    ResyncInput(host=spec.primary.host, vm=spec.vm, start_at=start),
                    "resynchronize",
                )
                s.heals += 1
                self._set_phase(Phase.RESYNCHRONIZING)
            elif state in (hv.ReplicationState.REPLICATING, hv.ReplicationState.RESYNCHRONIZING):
                self._clear_alert("replication_error")
        except ActivityError as error:
            self._raise_alert("replication_error", "critical", f"healing failed: {_reason(error)}")

    def _resync_start(self) -> datetime | None:
        """Now, or the next opening of the policy's resynchronization window (host-local times are UTC here)."""
        window = self.state.spec.policy.resync_window
        if window is None:
            return None
        now = workflow.now()
        start = now.replace(hour=window.start.hour, minute=window.start.minute, second=0, microsecond=0)
        end = now.replace(hour=window.end.hour, minute=window.end.minute, second=0, microsecond=0)
        inside = start <= now < end if start <= end else (now >= start or now < end)
        if inside:
            return None
        return start if start > now else start + timedelta(days=1)

    # -- operator commands (updates) -----------------------------------------------------------------------

    async def _enqueue(self, name: str, argument: Any) -> CommandResult:
        command = _Command(str(workflow.uuid4()), name, argument)
        self._queue.append(command)
        await workflow.wait_condition(lambda: command.id in self._results)
        result = self._results.pop(command.id)
        if isinstance(result, str):
            raise ApplicationError(result, type="CommandFailed")
        return result

    def _refuse(self, command: str, allowed: tuple[Phase, ...]) -> None:
        if self.state.phase not in allowed:
            raise ValueError(
                f"cannot {command} the protection of {self.state.spec.vm}: it is {self.state.phase.value} "
                f"(allowed when {', '.join(p.value for p in allowed)})"
            )

    @workflow.update
    async def pause(self) -> CommandResult:
        return await self._enqueue("pause", None)

    @pause.validator
    def _pause_ok(self) -> None:
        self._refuse("pause", (Phase.REPLICATING, Phase.RESYNCHRONIZING))

    @workflow.update
    async def resume(self) -> CommandResult:
        return await self._enqueue("resume", None)

    @resume.validator
    def _resume_ok(self) -> None:
        self._refuse("resume", (Phase.PAUSED, Phase.FAILED))

    @workflow.update
    async def resync(self, request: ResyncRequest) -> CommandResult:
        return await self._enqueue("resync", request)

    @resync.validator
    def _resync_ok(self, request: ResyncRequest) -> None:
        self._refuse("resynchronize", (Phase.REPLICATING, Phase.PAUSED, Phase.RESYNCHRONIZING))

    @workflow.update
    async def change_policy(self, request: PolicyChange) -> CommandResult:
        return await self._enqueue("change_policy", request)

    @change_policy.validator
    def _change_policy_ok(self, request: PolicyChange) -> None:
        self._refuse("change the policy of", (Phase.REPLICATING, Phase.PAUSED, Phase.RESYNCHRONIZING))

    @workflow.update
    async def disable(self, request: DisableRequest) -> CommandResult:
        return await self._enqueue("disable", request)

    @disable.validator
    def _disable_ok(self, request: DisableRequest) -> None:
        self._refuse("disable", tuple(p for p in Phase if p not in (Phase.FAILOVER, Phase.DISABLING, Phase.DISABLED)))

    @workflow.update
    async def begin_failover(self, request: FailoverBegin) -> CommandResult:
        return await self._enqueue("begin_failover", request)

    @begin_failover.validator
    def _begin_failover_ok(self, request: FailoverBegin) -> None:
        if self.state.phase is Phase.FAILOVER and self.state.failover_operation == request.operation:
            return
        self._refuse("fail over", (Phase.REPLICATING, Phase.PAUSED, Phase.RESYNCHRONIZING, Phase.FAILED))

    @workflow.update
    async def end_failover(self, request: FailoverEnd) -> CommandResult:
        return await self._enqueue("end_failover", request)

    @end_failover.validator
    def _end_failover_ok(self, request: FailoverEnd) -> None:
        if self.state.phase is not Phase.FAILOVER or self.state.failover_operation != request.operation:
            raise ValueError(f"no failover {request.operation!r} is running for {self.state.spec.vm}")

    @workflow.query
    def status(self) -> ProtectionStatus:
        return ProtectionStatus.of(self.state)

    @workflow.query
    def details(self) -> ProtectionState:
        return self.state

    async def _execute(self, command: _Command) -> None:
        s, spec = self.state, self.state.spec
        handlers: dict[str, Callable[[Any], Awaitable[str]]] = {
            "pause": self._do_pause,
            "resume": self._do_resume,
            "resync": self._do_resync,
            "change_policy": self._do_change_policy,
            "disable": self._do_disable,
            "begin_failover": self._do_begin_failover,
            "end_failover": self._do_end_failover,
        }
        try:
            message = await handlers[command.name](command.argument)
            self._results[command.id] = CommandResult(vm=spec.vm, phase=s.phase, message=message)
        except ActivityError as error:
            self._results[command.id] = f"{command.name} of {spec.vm} failed: {_reason(error)}"
        self._publish()

    async def _do_pause(self, _: None) -> str:
        await self._on_primary(ProtectionActivities.suspend_replication, self._host_vm(), "suspend replication")
        self.state.paused_by_operator = True
        self._set_phase(Phase.PAUSED)
        return "replication suspended"

    async def _do_resume(self, _: None) -> str:
        s = self.state
        if s.phase is Phase.FAILED:
            # The main loop brings it up again (it may take hours: an update must not wait for that).
            s.error = None
            self._clear_alert("preflight")
            self._clear_alert("replication_error")
            self._set_phase(Phase.PREFLIGHT)
            return "retrying from the preflight"
        await self._on_primary(ProtectionActivities.resume_replication, self._host_vm(), "resume replication")
        s.paused_by_operator = False
        self._set_phase(Phase.REPLICATING)
        return "replication resumed"

    async def _do_resync(self, request: ResyncRequest) -> str:
        spec = self.state.spec
        await self._on_primary(
            ProtectionActivities.resynchronize_replication,
            ResyncInput(host=spec.primary.host, vm=spec.vm, start_at=request.start_at),
            "resynchronize",
        )
        self.state.paused_by_operator = False
        self._set_phase(Phase.RESYNCHRONIZING)
        return "resynchronization started" if request.start_at is None else f"resynchronization at {request.start_at}"

    async def _do_change_policy(self, request: PolicyChange) -> str:
        spec, new = self.state.spec, request.policy
        update = hv.ReplicationUpdate(
            frequency_sec=new.copy_frequency_s,
            recovery_history=new.recovery_point_hours,
            vss_snapshot_frequency_hour=new.app_consistent_hours or None,
            compression_enabled=new.compression,
        )
        await self._on_primary(
            ProtectionActivities.update_replication,
            UpdateInput(host=spec.primary.host, vm=spec.vm, update=update),
            "change replication settings",
        )
        spec.policy = new
        return f"policy {new.name} applied"

    async def _do_disable(self, request: DisableRequest) -> str:
        before = self.state.phase
        try:
            return await self._disable(request)
        except ActivityError:
            self._set_phase(before)  # nothing was half-disabled for good: the operator can try again
            raise

    async def _disable(self, request: DisableRequest) -> str:
        spec = self.state.spec
        self._set_phase(Phase.DISABLING)
        await self._on_primary(ProtectionActivities.remove_replication, self._host_vm(), "remove replication")
        await self._activity(
            ProtectionActivities.remove_replication,
            HostVM(host=spec.replica.host, vm=spec.vm),
            spec.replica.site,
            "remove replication on the replica",
        )
        delete = spec.policy.delete_replica_on_disable if request.delete_replica is None else request.delete_replica
        outcome = "replication removed on both hosts"
        if delete:
            await self._activity(
                ProtectionActivities.delete_vm,
                HostVM(host=spec.replica.host, vm=spec.vm),
                spec.replica.site,
                "delete the replica VM",
            )
            outcome += "; replica VM deleted"
        for alert in self.state.open_alerts():
            alert.cleared_at = workflow.now()
        self._set_phase(Phase.DISABLED)
        return outcome

    async def _do_begin_failover(self, request: FailoverBegin) -> str:
        s = self.state
        if s.phase is not Phase.FAILOVER:
            s.failover_operation = request.operation
            self._set_phase(Phase.FAILOVER)
        return f"protection stands by for failover {request.operation}"

    async def _do_end_failover(self, request: FailoverEnd) -> str:
        s = self.state
        if request.primary is not None and request.replica is not None:
            s.spec.primary, s.spec.replica = request.primary, request.replica
        s.failover_operation = None
        s.missed_cycles = 0
        self._set_phase(Phase.REPLICATING if request.replicating else Phase.PAUSED)
        workflow.upsert_search_attributes([HVDR_SITE.value_set(s.spec.primary.site)])
        return f"protection continues {s.spec.primary.site} → {s.spec.replica.site}"

    # -- helpers ------------------------------------------------------------------------------------------

    def _replication_input(self) -> ReplicationInput:
        spec = self.state.spec
        return ReplicationInput(host=spec.primary.host, vm=spec.vm, settings=replication_settings(spec))

    def _host_vm(self) -> HostVM:
        return HostVM(host=self.state.spec.primary.host, vm=self.state.spec.vm)

    async def _on_primary(self, method: Callable[..., Awaitable[T]], argument: Any, summary: str) -> T:
        return await self._activity(method, argument, self.state.spec.primary.site, summary)

    async def _activity(self, method: Callable[..., Awaitable[T]], argument: Any, site: str, summary: str) -> T:
        self._details(f"{summary} ({self.state.spec.vm})")
        result: T = await workflow.execute_activity_method(
            method,
            argument,
            task_queue=site_task_queue(site),
            summary=summary,
            **options.COMMAND.kwargs(),
        )
        return result

    def _observe(self, info: hv.ReplicationInfo) -> None:
        self.state.replication_state = info.state.value
        self.state.health = info.health.value

    def _set_phase(self, phase: Phase) -> None:
        if self.state.phase is not phase:
            self.state.phase = phase
            self._publish()

    def _publish(self) -> None:
        workflow.upsert_search_attributes([HVDR_PHASE.value_set(self.state.phase.value)])
        self._details(self._summary())

    def _summary(self) -> str:
        s = self.state
        rpo = f"{s.rpo_s:.0f} s" if s.rpo_s is not None else "–"
        alerts = "; ".join(a.message for a in s.open_alerts()) or "none"
        return (
            f"**{s.spec.vm}** {s.spec.primary.host} → {s.spec.replica.host}: {s.phase.value}, "
            f"{s.replication_state or '–'} / {s.health or '–'}, RPO {rpo}. Alerts: {alerts}"
        )

    def _details(self, text: str) -> None:
        workflow.set_current_details(text)

    def _raise_alert(self, kind: str, severity: str, message: str) -> None:
        for alert in self.state.open_alerts():
            if alert.kind == kind:
                alert.message, alert.severity = message, severity
                return
        self.state.alerts = [
            *[a for a in self.state.alerts if a.cleared_at is None or a.kind != kind][-19:],
            Alert(kind=kind, severity=severity, message=message, raised_at=workflow.now()),
        ]
        workflow.logger.warning("alert for %s: %s", self.state.spec.vm, message)

    def _clear_alert(self, kind: str) -> None:
        for alert in self.state.open_alerts():
            if alert.kind == kind:
                alert.cleared_at = workflow.now()

    def _at(self, *phases: Phase) -> bool:
        """The phase now (a method, so type checkers do not assume it unchanged across awaits)."""
        return self.state.phase in phases

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return bool(self._ticks_this_run >= MAX_TICKS_PER_RUN or info.is_continue_as_new_suggested())
