"""MonitorWorkflow (id ``monitor/<host>``): one per primary host, measuring all its protected VMs each tick and
waking a VM's protection run only when something needs deciding (see :mod:`hvdr.monitor`).

A tick is one activity (``measure_host``: one Measure-VMReplication for every watched VM), a memo upsert when
what it read changed (the ``live`` memo ``hvdr status`` reads the RPO from) and a signal per VM that needs a
decision — so a host of fifty healthy VMs costs the same as a host of one. VMs register and leave by signals
(``watch``, ``unwatch``); a run the monitor cannot signal any more (ended, terminated) is dropped. With no VM
left the monitor ends; the next registration starts a new one (signal-with-start). The run continues-as-new
with its members when Temporal suggests it or after ``ticks_per_run`` ticks. A host that cannot be measured
wakes each VM once with the error (a monitoring alert in its run) and again once it answers.
"""

from __future__ import annotations

import asyncio
import contextlib

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from hvdr.activities.protection import HostMeasureInput, HostReadings, ProtectionActivities
    from hvdr.monitor import (
        HostLive,
        LiveRow,
        Member,
        MonitorInput,
        MonitorState,
        RpoSeries,
        Unwatch,
        Watch,
        rpo_of,
        verdict,
    )
    from hvdr.protection import Reading, Wake
    from hvdr.visibility import HVDR_SITE

from hvdr.workflows.kit import MEASURE, Publisher, reason, run_activity

WAKE_SIGNAL = "monitor_wake"
RPO_HISTORY_PATCH = "monitor-rpo-history"
"""Runs recorded before the monitor kept an RPO history replay without it (the history is state only: no
command changes, the patch only marks the runs that keep one)."""


@workflow.defn(name="Monitor")
class MonitorWorkflow:
    @workflow.init
    def __init__(self, request: MonitorInput) -> None:
        self.state: MonitorState = request.state
        self._ticks_per_run = request.ticks_per_run
        self._ticks_this_run = 0
        self._publisher = Publisher()

    @workflow.run
    async def run(self, request: MonitorInput) -> MonitorState:
        s = self.state
        self._publisher.attributes((HVDR_SITE, s.site))
        while s.members:
            self._ticks_this_run += 1
            await self._tick()
            if self._ticks_this_run >= self._ticks_per_run or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                s.continued += 1
                workflow.continue_as_new(MonitorInput(state=s, ticks_per_run=self._ticks_per_run))
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: not s.members, timeout=s.interval())
        await workflow.wait_condition(workflow.all_handlers_finished)
        return s

    @workflow.signal
    def watch(self, watch: Watch) -> None:
        self.state.watch(watch, workflow.now())

    @workflow.signal
    def unwatch(self, request: Unwatch) -> None:
        self.state.unwatch(request.vm)

    @workflow.query
    def live(self) -> HostLive | None:
        return self.state.live

    @workflow.query
    def details(self) -> MonitorState:
        return self.state

    @workflow.query
    def rpo_history(self) -> dict[str, RpoSeries]:
        """Each watched VM's peak RPO per 15 minutes of host time, the last 24 hours (the estate report's chart)."""
        return self.state.rpo_history

    async def _tick(self) -> None:
        s = self.state
        s.ticks += 1
        s.forget_silent(workflow.now())
        if not s.members:
            return
        readings: HostReadings | None = None
        error: str | None = None
        # Real seconds (the activity compares Temporal's clock): a sample younger than half a tick is reused.
        tick = s.interval().total_seconds()
        try:
            readings = await run_activity(
                ProtectionActivities.measure_host,
                HostMeasureInput(host=s.host, vms=sorted(m.watch.vm for m in s.members.values()), max_age_s=tick / 2),
                site=s.site,
                summary=f"measure replication on {s.host}",
                options=MEASURE,
            )
        except ActivityError as failure:
            if is_cancelled_exception(failure):
                raise
            error = f"cannot measure replication on {s.host}: {reason(failure)}"
        wakes: list[tuple[Member, Wake]] = []
        keep_history = workflow.patched(RPO_HISTORY_PATCH)
        for key, member in list(s.members.items()):
            reading = readings.readings.get(key) if readings is not None else None
            if reading is not None and keep_history:
                s.record_rpo(key, reading)
            digest, every_tick = verdict(member, reading, error)
            if digest != member.digest or every_tick:
                wakes.append((member, Wake(host=s.host, reading=reading, error=error)))
            member.digest = digest
            if reading is not None:
                member.missed_cycles = reading.missed_cycles
        self._publish(readings, error)
        await asyncio.gather(*(self._wake(member, wake) for member, wake in wakes))

    async def _wake(self, member: Member, wake: Wake) -> None:
        handle = workflow.get_external_workflow_handle(member.watch.workflow_id)
        try:
            await handle.signal(WAKE_SIGNAL, wake)
        except FailureError:
            # The run is gone (disabled, terminated): it will not need waking again.
            if self.state.members.get(member.watch.vm.lower()) is member:
                self.state.unwatch(member.watch.vm)
            return
        self.state.wakes += 1

    def _publish(self, readings: HostReadings | None, error: str | None) -> None:
        s = self.state
        before = s.live.rows if s.live is not None else {}
        rows: dict[str, LiveRow] = {}
        for key in sorted(s.members):
            reading: Reading | None = readings.readings.get(key) if readings is not None else None
            if reading is not None:
                rows[key] = LiveRow(
                    replication_state=reading.state,
                    health=reading.health,
                    rpo_s=rpo_of(reading),
                    last_replication=reading.last_replication,
                )
            else:
                rows[key] = before.get(key, LiveRow()) if error is not None else LiveRow()
        measured_at = workflow.now() if readings is not None else (s.live.measured_at if s.live else None)
        live = HostLive(host=s.host, measured_at=measured_at, error=error, rows=rows)
        changed = s.live is None or s.live.model_dump() != live.model_dump()
        s.live = live
        if changed:
            workflow.upsert_memo({"live": live.model_dump(mode="json")})
        healthy = sum(1 for r in rows.values() if r.replication_state is not None)
        self._publisher.details(
            f"**{s.host}**: {len(s.members)} VM(s) watched, {healthy} measured"
            + (f"; {error}" if error else "")
            + f". Tick {s.ticks}, {s.wakes} wake(s) sent."
        )
