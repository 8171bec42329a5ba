"""ProtectionWorkflow (id ``protect/<vm>``): enable → initial copy → delta cycles, for as long as the VM is
protected.

All state is one ``ProtectionState``; its methods take the decisions (RPO, alerts, history, whether to heal).
The main loop takes one step at a time — a bring-up step, an initial-copy poll or a monitoring tick — and
between steps executes the operator's commands (updates, through :class:`~hvdr.workflows.kit.Commands`). A step
is interrupted when a command arrives. While a failover of the VM runs (``begin_failover`` … ``end_failover``)
the run issues no commands to the hosts and afterwards continues in the new direction. Histories stay small:
every step counts, and the run continues-as-new (after draining its handlers) when Temporal suggests it or
after ``ticks_per_run`` steps — also in the middle of a multi-day initial copy.

Steady-state monitoring belongs to the primary host's monitor (:mod:`hvdr.workflows.monitor`): once the VM
replicates, the run registers with ``monitor/<host>`` and waits, without ticking, until the monitor wakes it
(signal ``monitor_wake``) because something needs deciding, or an operator's command arrives. It re-registers
when what the monitor must know changes (policy, pause, a new primary after failover), every ``REWATCH_S`` host
seconds (a monitor that vanished is started again), and leaves the monitor when it stops monitoring.

Runs started before this code replay on :mod:`hvdr.workflows.protection_v1` (see ``KIT_PATCH``); runs started
before the monitor (no ``MONITOR_PATCH`` marker) keep measuring per tick until they continue-as-new.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
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
        replication_update,
    )
    from hvdr.activities.runs import RunLinks
    from hvdr.hyperv import models as hv
    from hvdr.monitor import REWATCH_S, Watch
    from hvdr.protection import (
        BRING_UP,
        MONITORED,
        PAYLOAD_VERSION,
        AlertKind,
        CommandResult,
        DisableRequest,
        FailoverBegin,
        FailoverEnd,
        HealAction,
        Phase,
        PolicyChange,
        ProtectionInput,
        ProtectionState,
        ProtectionStatus,
        Reading,
        ResyncRequest,
        Severity,
        Wake,
    )
    from hvdr.visibility import HVDR_PHASE, HVDR_SITE

# Workflow code, not passed through: the sandbox loads it with the same model classes as this module.
from hvdr.workflows.kit import (
    HEAL,
    HOST_COMMAND,
    MEASURE,
    ActivityOptions,
    Commands,
    Publisher,
    drain,
    interruptible,
    reason,
    run_activity,
    step,
    vm_replication,
)
from hvdr.workflows.protection_v1 import LegacyProtection

KIT_PATCH = "protection-kit"
MONITOR_PATCH = "protection-monitor"
"""Histories with this marker were recorded by runs that leave monitoring to their host's monitor."""
LINK_RETRY = RetryPolicy(maximum_attempts=5)
"""Histories without this marker were recorded by the code before the kit: they replay on protection_v1."""
COPY_POLL_S = 30
"""Host seconds between polls of an initial copy (11 history events a poll; days of copying continue-as-new)."""
STATUS_REFRESH = timedelta(hours=1)
"""The status memo is re-sent at least this often even when nothing a user sees changed (its ``updated_at``)."""
OFFLINE_EXPORTED = {hv.ReplicationState.REPLICATING, hv.ReplicationState.INITIAL_REPLICATION_IN_PROGRESS}

T = TypeVar("T")


class LifecycleError(Exception):
    """A host reached a state that ends the bring-up (the run then waits in phase ``failed``)."""


@workflow.defn(name="Protection")
class ProtectionWorkflow:
    @workflow.init
    def __init__(self, request: ProtectionInput) -> None:
        self.state: ProtectionState = request.state
        self._ticks_per_run = request.ticks_per_run
        self._steps_this_run = 0
        self._commands: Commands[CommandResult] = Commands()
        self._publisher = Publisher()
        self._legacy: LegacyProtection | None = None
        self._by_monitor = False
        self._wake: Wake | None = request.wake

    # -- the lifecycle ----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: ProtectionInput) -> ProtectionStatus:
        if not workflow.patched(KIT_PATCH):
            self._legacy = LegacyProtection(self.state)
            return await self._legacy.run(request)
        self._by_monitor = workflow.patched(MONITOR_PATCH)
        s = self.state
        self._publish()
        while not self._at(Phase.DISABLED):
            if await self._commands.run_all():
                self._publish()
                continue  # the next step follows the commands at once, from what they changed
            if self._monitor_due():
                await self._follow_monitor()
                self._publish()
            elif self._at(*BRING_UP) or (self._at(*MONITORED) and not self._by_monitor):
                self._steps_this_run += 1
                await interruptible(self._step(), self._commands.pending)
                self._publish()
            if self._should_continue_as_new():
                await drain(self._commands)
                self._publish()
                if self._at(Phase.DISABLED):
                    break
                s.continued, s.version = s.continued + 1, PAYLOAD_VERSION
                workflow.continue_as_new(
                    ProtectionInput(
                        version=PAYLOAD_VERSION, state=s, ticks_per_run=self._ticks_per_run, wake=self._wake
                    )
                )
            # Until a step is due, or (monitored) a wake, or the registration that re-starts a vanished monitor.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._commands.pending() or self._monitor_due(), timeout=self._interval()
                )
        if self._by_monitor and s.watching is not None:
            await self._register(None)
        await drain(self._commands)
        return ProtectionStatus.of(s)

    def _interval(self) -> timedelta | None:
        """Until the next step: a copy interval when monitoring, a poll while bringing up, none otherwise."""
        spec = self.state.spec
        if self._at(*MONITORED):
            if self._by_monitor:
                return max(self._rewatch_at() - workflow.now(), timedelta(seconds=1))
            return spec.host_seconds(spec.policy.copy_frequency_s)
        if self._at(*BRING_UP):
            return spec.host_seconds(COPY_POLL_S if self._at(Phase.INITIAL_REPLICATION) else 1)
        return None  # failed, failover: only a command moves the run

    def _should_continue_as_new(self) -> bool:
        return self._steps_this_run >= self._ticks_per_run or workflow.info().is_continue_as_new_suggested()

    async def _step(self) -> None:
        if self._at(*MONITORED):
            await self._tick()
            return
        s = self.state
        try:
            async with step(s.phase.value, vm=s.spec.vm):
                if s.phase is Phase.PREFLIGHT:
                    await self._preflight()
                    self._set_phase(Phase.ENABLING)
                elif s.phase is Phase.ENABLING:
                    info = await self._command(
                        ProtectionActivities.enable_replication, self._replication_input(), "enable replication"
                    )
                    self._observe(info)
                    self._set_phase(Phase.INITIAL_REPLICATION)
                elif s.phase is Phase.INITIAL_REPLICATION:
                    await self._initial_copy_step()
        except (ActivityError, LifecycleError) as error:
            if is_cancelled_exception(error):
                raise
            s.error = f"{s.phase.value}: {reason(error)}"
            kind = AlertKind.PREFLIGHT if s.phase is Phase.PREFLIGHT else AlertKind.REPLICATION_ERROR
            s.raise_alert(kind, Severity.CRITICAL, s.error, workflow.now())
            self._set_phase(Phase.FAILED)

    async def _preflight(self) -> None:
        spec = self.state.spec
        await self._command(
            ProtectionActivities.ensure_replica_server,
            ReplicaServerInput(
                host=spec.replica.host, settings=replica_server_settings(spec), needed_bytes=spec.replicated_bytes
            ),
            "check the replica server",
            site=spec.replica.site,
        )
        await self._command(
            ProtectionActivities.test_replication_connection, self._replication_input(), "test the connection"
        )

    async def _initial_copy_step(self) -> None:
        """One step of the initial copy: start it, poll it, (offline) import it once exported."""
        s, spec = self.state, self.state.spec
        copy = spec.policy.initial_replication
        if not s.initial_copy_started:
            kind = {"network_now": "network", "scheduled": "scheduled", "offline": "export"}[copy.method]
            request = InitialReplicationInput(
                host=spec.primary.host,
                vm=spec.vm,
                method=hv.InitialReplicationMethod(kind),
                start_time=copy.at,
                export_path=copy.export_path,
            )
            self._observe(
                await self._command(ProtectionActivities.start_initial_replication, request, "start the copy")
            )
            s.initial_copy_started = True
        report = await self._measure_now()
        if report is None:
            return
        state = report.state
        s.replication_state, s.health = state, report.health
        if copy.method == "offline" and not s.initial_copy_imported:
            if state not in OFFLINE_EXPORTED:
                self._details(f"exporting the initial copy of **{spec.vm}**")
                return
            await self._command(
                ProtectionActivities.import_initial_replication,
                ImportInput(host=spec.replica.host, vm=spec.vm, path=copy.import_path or ""),
                "import the initial copy",
                site=spec.replica.site,
            )
            s.initial_copy_imported = True
            return
        if report.initial_replication_bytes:
            sent = report.initial_replication_bytes - report.pending_replication_bytes
            s.initial_progress = round(max(0.0, min(1.0, sent / report.initial_replication_bytes)), 3)
        if state is hv.ReplicationState.REPLICATING:
            s.initial_progress = None
            s.last_replication = report.last_replication_time
            self._set_phase(Phase.REPLICATING)
        elif state in (hv.ReplicationState.ERROR, hv.ReplicationState.DISABLED):
            raise LifecycleError(f"{spec.vm} went to {state.value} during the initial copy")

    async def _measure_now(self) -> hv.ReplicationHealthReport | None:
        measurement = await self._measure(max_age_s=0)
        return measurement.report if measurement else None

    # -- monitoring ---------------------------------------------------------------------------------------

    async def _measure(self, max_age_s: float) -> Measurement | None:
        spec = self.state.spec
        try:
            return await run_activity(
                ProtectionActivities.measure_replication,
                MeasureInput(host=spec.primary.host, vm=spec.vm, max_age_s=max_age_s),
                site=spec.primary.site,
                summary=f"measure replication on {spec.primary.host}",
                options=MEASURE,
            )
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            message = f"cannot measure replication on {spec.primary.host}: {reason(error)}"
            self.state.raise_alert(AlertKind.MONITORING, Severity.WARNING, message, workflow.now())
            return None

    async def _tick(self) -> None:
        s, spec = self.state, self.state.spec
        s.ticks += 1
        tick = spec.host_seconds(spec.policy.copy_frequency_s).total_seconds()
        measurement = await self._measure(max_age_s=tick / 2)
        now = workflow.now()
        s.updated_at = now
        if measurement is None:
            return
        report = measurement.report
        if report is None:
            await self._judge(None)
            return
        # Built here, not by the activities' ``reading_of``: its module's models are not the sandbox's.
        reading = Reading(
            state=report.state,
            health=report.health,
            health_details=list(report.health_details),
            last_replication=report.last_replication_time,
            missed_cycles=report.missed_replication_count,
            host_time=measurement.host_time,
        )
        await self._judge(reading)

    async def _judge(self, reading: Reading | None) -> None:
        """Decide on a measurement of the VM: record it, raise or clear alerts, heal."""
        s, spec, now = self.state, self.state.spec, workflow.now()
        s.clear_alert(AlertKind.MONITORING, now)
        if reading is None:
            message = f"{spec.vm} is not replicating on {spec.primary.host}"
            s.raise_alert(AlertKind.REPLICATION_ERROR, Severity.CRITICAL, message, now)
            return
        s.take(reading, now)
        await self._heal()

    # -- the host monitor ---------------------------------------------------------------------------------

    @workflow.signal(name="monitor_wake")
    def monitor_wake(self, wake: Wake) -> None:
        """The host's monitor read something that needs deciding (the latest wake replaces an unread one)."""
        self._wake = wake

    def _wanted_watch(self) -> str | None:
        """The registration the monitor should hold: this run's while it monitors, none otherwise."""
        return self._key(self._watch()) if self._at(*MONITORED) else None

    @staticmethod
    def _key(watch: Watch) -> str:
        """What ``state.watching`` holds: the registration without the run's id (the same for all its runs)."""
        return watch.model_dump_json(exclude={"workflow_id", "since"})

    def _rewatch_at(self) -> datetime:
        """When this run registers with its monitor again (REWATCH_S host seconds after the last time)."""
        s = self.state
        return (s.watched_at or workflow.now()) + s.spec.host_seconds(REWATCH_S)

    def _monitor_due(self) -> bool:
        """Something for :meth:`_follow_monitor`: a wake to decide, or a registration to change."""
        if not self._by_monitor:
            return False
        if self.state.watching != self._wanted_watch():
            return True
        return self._at(*MONITORED) and (self._wake is not None or workflow.now() >= self._rewatch_at())

    def _watch(self) -> Watch:
        s, spec = self.state, self.state.spec
        return Watch(
            vm=spec.vm,
            workflow_id=workflow.info().workflow_id,
            site=spec.primary.site,
            host=spec.primary.host,
            frequency_s=spec.policy.copy_frequency_s,
            rpo_alert_threshold_s=spec.policy.rpo_alert_threshold_s,
            time_scale=spec.time_scale,
            quiet=s.phase is Phase.PAUSED,
            since=s.watched_since,
        )

    async def _follow_monitor(self) -> None:
        """Keep the registration current (join, change, leave: failover, failed, disabled), then decide on the
        monitor's latest wake while monitoring (wakes are dropped otherwise)."""
        if self.state.watching != self._wanted_watch() or (
            self._at(*MONITORED) and workflow.now() >= self._rewatch_at()
        ):
            await self._register(self._watch() if self._at(*MONITORED) else None)
        if not self._at(*MONITORED):
            self._wake = None
        elif self._wake is not None:
            wake, self._wake = self._wake, None
            self._steps_this_run += 1
            await interruptible(self._decide(wake), self._commands.pending)

    async def _decide(self, wake: Wake) -> None:
        s, now = self.state, workflow.now()
        s.ticks += 1
        s.updated_at = now
        if wake.error is not None:
            s.raise_alert(AlertKind.MONITORING, Severity.WARNING, wake.error, now)
            return
        await self._judge(wake.reading)

    async def _register(self, wanted: Watch | None) -> None:
        """Leave the monitor of the host registered with (if another or none is wanted), join the wanted one."""
        s, now = self.state, workflow.now()
        old = (
            Watch.model_validate_json(s.watching).model_copy(update={"workflow_id": workflow.info().workflow_id})
            if s.watching
            else None
        )
        if old is not None and (wanted is None or old.host.lower() != wanted.host.lower()):
            try:
                await self._link(RunLinks.unwatch, old, f"leave the monitor of {old.host}")
            except ActivityError as error:
                if is_cancelled_exception(error):
                    raise
                # Harmless: the monitor's wakes are ignored outside monitoring, and it drops an ended run.
            s.watching = None
        if wanted is None:
            return
        if s.watching is None:  # joining (not refreshing): the monitor treats it as new
            s.watched_since = now
            wanted = wanted.model_copy(update={"since": now})
        try:
            await self._link(RunLinks.watch, wanted, f"join the monitor of {wanted.host}")
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            message = f"cannot register with the monitor of {wanted.host}: {reason(error)}"
            s.raise_alert(AlertKind.MONITORING, Severity.WARNING, message, now)
        else:
            for alert in s.open_alerts():
                if alert.kind is AlertKind.MONITORING and alert.message.startswith("cannot register"):
                    s.clear_alert(AlertKind.MONITORING, now)
        s.watching = self._key(wanted)  # also after a failure: tried again after REWATCH_S
        s.watched_at = now

    async def _link(self, method: Callable[..., Awaitable[T]], argument: Any, summary: str) -> T:
        """A call to another run (the host's monitor) through this run's own task queue."""
        result: T = await workflow.execute_activity_method(
            method,
            argument,
            task_queue=workflow.info().task_queue,
            summary=summary,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=LINK_RETRY,
        )
        return result

    async def _heal(self) -> None:
        s, spec = self.state, self.state.spec
        now = workflow.now()
        heal = s.heal(now)
        if heal is None:
            if s.replication_state in (hv.ReplicationState.REPLICATING, hv.ReplicationState.RESYNCHRONIZING):
                s.clear_alert(AlertKind.REPLICATION_ERROR, now)
            return
        s.raise_alert(AlertKind.REPLICATION_ERROR, Severity.CRITICAL, heal.reason, now)
        try:
            async with step("heal", vm=spec.vm, action=heal.action.value):
                if heal.action is HealAction.RESUME:
                    await self._command(
                        ProtectionActivities.resume_replication, self._host_vm(), "resume replication", options=HEAL
                    )
                else:
                    await self._command(
                        ProtectionActivities.resynchronize_replication,
                        ResyncInput(host=spec.primary.host, vm=spec.vm, start_at=heal.start_at),
                        "resynchronize",
                        options=HEAL,
                    )
                    s.resync_scheduled_at = heal.start_at or now
                    self._set_phase(Phase.RESYNCHRONIZING)
                s.heals += 1
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            s.raise_alert(AlertKind.REPLICATION_ERROR, Severity.CRITICAL, f"healing failed: {reason(error)}", now)

    # -- operator commands (updates) -----------------------------------------------------------------------

    async def _submit(
        self, name: str, check: Callable[[], None], action: Callable[[], Awaitable[str]]
    ) -> CommandResult:
        async def execute() -> CommandResult:
            async with step(name, vm=self.state.spec.vm):
                message = await action()
            return CommandResult(vm=self.state.spec.vm, phase=self.state.phase, message=message)

        return await self._commands.submit(f"{name} of {self.state.spec.vm}", check, execute)

    def _refuse(self, command: str, allowed: tuple[Phase, ...]) -> None:
        if self.state.phase not in allowed:
            raise ValueError(
                f"cannot {command} the protection of {self.state.spec.vm}: it is {self.state.phase.value} "
                f"(allowed when {', '.join(p.value for p in allowed)})"
            )

    @workflow.update
    async def pause(self) -> CommandResult:
        if self._legacy:
            return await self._legacy.pause()
        return await self._submit("pause", self._pause_ok, self._do_pause)

    @pause.validator
    def _pause_ok(self) -> None:
        if self._legacy:
            return self._legacy.pause_ok()
        self._refuse("pause", (Phase.REPLICATING, Phase.RESYNCHRONIZING))

    @workflow.update
    async def resume(self) -> CommandResult:
        if self._legacy:
            return await self._legacy.resume()
        return await self._submit("resume", self._resume_ok, self._do_resume)

    @resume.validator
    def _resume_ok(self) -> None:
        if self._legacy:
            return self._legacy.resume_ok()
        self._refuse("resume", (Phase.PAUSED, Phase.FAILED))

    @workflow.update
    async def resync(self, request: ResyncRequest) -> CommandResult:
        if self._legacy:
            return await self._legacy.resync(request)
        return await self._submit("resync", lambda: self._resync_ok(request), lambda: self._do_resync(request))

    @resync.validator
    def _resync_ok(self, request: ResyncRequest) -> None:
        if self._legacy:
            return self._legacy.resync_ok(request)
        self._refuse("resynchronize", (Phase.REPLICATING, Phase.PAUSED, Phase.RESYNCHRONIZING))

    @workflow.update
    async def change_policy(self, request: PolicyChange) -> CommandResult:
        if self._legacy:
            return await self._legacy.change_policy(request)
        return await self._submit(
            "change_policy", lambda: self._change_policy_ok(request), lambda: self._do_change_policy(request)
        )

    @change_policy.validator
    def _change_policy_ok(self, request: PolicyChange) -> None:
        if self._legacy:
            return self._legacy.change_policy_ok(request)
        self._refuse("change the policy of", (Phase.REPLICATING, Phase.PAUSED, Phase.RESYNCHRONIZING))

    @workflow.update
    async def disable(self, request: DisableRequest) -> CommandResult:
        if self._legacy:
            return await self._legacy.disable(request)
        return await self._submit("disable", lambda: self._disable_ok(request), lambda: self._do_disable(request))

    @disable.validator
    def _disable_ok(self, request: DisableRequest) -> None:
        if self._legacy:
            return self._legacy.disable_ok(request)
        self._refuse("disable", tuple(p for p in Phase if p not in (Phase.FAILOVER, Phase.DISABLING, Phase.DISABLED)))

    @workflow.update
    async def begin_failover(self, request: FailoverBegin) -> CommandResult:
        if self._legacy:
            return await self._legacy.begin_failover(request)
        return await self._submit(
            "begin_failover", lambda: self._begin_failover_ok(request), lambda: self._do_begin_failover(request)
        )

    @begin_failover.validator
    def _begin_failover_ok(self, request: FailoverBegin) -> None:
        if self._legacy:
            return self._legacy.begin_failover_ok(request)
        if self.state.phase is Phase.FAILOVER and self.state.failover_operation == request.operation:
            return
        self._refuse("fail over", (Phase.REPLICATING, Phase.PAUSED, Phase.RESYNCHRONIZING, Phase.FAILED))

    @workflow.update
    async def end_failover(self, request: FailoverEnd) -> CommandResult:
        if self._legacy:
            return await self._legacy.end_failover(request)
        return await self._submit(
            "end_failover", lambda: self._end_failover_ok(request), lambda: self._do_end_failover(request)
        )

    @end_failover.validator
    def _end_failover_ok(self, request: FailoverEnd) -> None:
        if self._legacy:
            return self._legacy.end_failover_ok(request)
        if self.state.phase is not Phase.FAILOVER or self.state.failover_operation != request.operation:
            raise ValueError(f"no failover {request.operation!r} is running for {self.state.spec.vm}")

    @workflow.query
    def status(self) -> ProtectionStatus:
        return ProtectionStatus.of(self.state)

    @workflow.query
    def details(self) -> ProtectionState:
        return self.state

    async def _do_pause(self) -> str:
        await self._command(ProtectionActivities.suspend_replication, self._host_vm(), "suspend replication")
        self.state.paused_by_operator = True
        self._set_phase(Phase.PAUSED)
        return "replication suspended"

    async def _do_resume(self) -> str:
        s = self.state
        if s.phase is Phase.FAILED:
            # The main loop brings it up again (it may take hours: an update must not wait for that).
            s.error = None
            s.initial_copy_started = s.initial_copy_imported = False
            s.clear_alert(AlertKind.PREFLIGHT, workflow.now())
            s.clear_alert(AlertKind.REPLICATION_ERROR, workflow.now())
            self._set_phase(Phase.PREFLIGHT)
            return "retrying from the preflight"
        await self._command(ProtectionActivities.resume_replication, self._host_vm(), "resume replication")
        s.paused_by_operator = False
        self._set_phase(Phase.REPLICATING)
        return "replication resumed"

    async def _do_resync(self, request: ResyncRequest) -> str:
        spec = self.state.spec
        await self._command(
            ProtectionActivities.resynchronize_replication,
            ResyncInput(host=spec.primary.host, vm=spec.vm, start_at=request.start_at),
            "resynchronize",
        )
        self.state.paused_by_operator = False
        self.state.resync_scheduled_at = request.start_at or workflow.now()
        self._set_phase(Phase.RESYNCHRONIZING)
        return "resynchronization started" if request.start_at is None else f"resynchronization at {request.start_at}"

    async def _do_change_policy(self, request: PolicyChange) -> str:
        spec, new = self.state.spec, request.policy
        await self._command(
            ProtectionActivities.update_replication,
            UpdateInput(host=spec.primary.host, vm=spec.vm, update=replication_update(new)),
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
        await self._command(ProtectionActivities.remove_replication, self._host_vm(), "remove replication")
        replica = HostVM(host=spec.replica.host, vm=spec.vm)
        await self._command(
            ProtectionActivities.remove_replication,
            replica,
            "remove replication on the replica",
            site=spec.replica.site,
        )
        delete = spec.policy.delete_replica_on_disable if request.delete_replica is None else request.delete_replica
        outcome = "replication removed on both hosts"
        if delete:
            await self._command(
                ProtectionActivities.delete_vm, replica, "delete the replica VM", site=spec.replica.site
            )
            outcome += "; replica VM deleted"
        self.state.clear_all_alerts(workflow.now())
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
        return f"protection continues {s.spec.primary.site} → {s.spec.replica.site}"

    # -- helpers ------------------------------------------------------------------------------------------

    def _replication_input(self) -> ReplicationInput:
        spec = self.state.spec
        return ReplicationInput(host=spec.primary.host, vm=spec.vm, settings=replication_settings(spec))

    def _host_vm(self) -> HostVM:
        return HostVM(host=self.state.spec.primary.host, vm=self.state.spec.vm)

    async def _command(
        self,
        method: Callable[..., Awaitable[T]],
        argument: Any,
        summary: str,
        *,
        site: str | None = None,
        options: ActivityOptions = HOST_COMMAND,
    ) -> T:
        """A command to a host: the primary's unless another site is named."""
        self._details(f"{summary} ({self.state.spec.vm})")
        return await run_activity(
            method, argument, site=site or self.state.spec.primary.site, summary=summary, options=options
        )

    def _observe(self, info: hv.ReplicationInfo) -> None:
        self.state.replication_state = info.state
        self.state.health = info.health

    def _set_phase(self, phase: Phase) -> None:
        if self.state.phase is not phase:
            self.state.phase = phase
            self._publish()

    def _publish(self) -> None:
        s = self.state
        self._publisher.attributes((HVDR_PHASE, s.phase.value), (HVDR_SITE, s.spec.primary.site))
        vm_replication(s.spec.vm, s.spec.primary.site, s.rpo_s, s.health)
        self._publisher.memo(
            "status", s.status_key(), lambda: ProtectionStatus.of(s).model_dump(mode="json"), refresh=STATUS_REFRESH
        )
        self._details(self._summary())

    def _summary(self) -> str:
        s = self.state
        rpo = f"{s.rpo_s:.0f} s" if s.rpo_s is not None else "–"
        alerts = "; ".join(a.message for a in s.open_alerts()) or "none"
        progress = f" {s.initial_progress:.0%}" if s.initial_progress is not None else ""
        return (
            f"**{s.spec.vm}** {s.spec.primary.host} → {s.spec.replica.host}: {s.phase.value}{progress}, "
            f"{s.replication_state or '–'} / {s.health or '–'}, RPO {rpo}. Alerts: {alerts}"
        )

    def _details(self, text: str) -> None:
        self._publisher.details(text)

    def _at(self, *phases: Phase) -> bool:
        """The phase now (a method, so type checkers do not assume it unchanged across awaits)."""
        return self.state.phase in phases
