"""``hvdr.Client``: the Python API. Every CLI command is a thin shell over one of its methods.

    async with await hvdr.Client.connect() as client:
        result = await client.ping("site-a")
        print(result.round_trip_ms)

It talks only to Temporal (with the same settings as the CLI and workers) and returns pydantic models.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, overload

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, ListWorkflowExecutionsRequest
from temporalio.client import Client as TemporalClient
from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    ScheduleHandle,
    TLSConfig,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.converter import PayloadConverter
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from hvdr.actions import DECIDE_UPDATE, UNKNOWN_STEP, Decision, DecisionResult
from hvdr.codec import data_converter
from hvdr.drill import KIND as DRILL_KIND
from hvdr.drill import DrillInput, DrillReport, DrillSchedule, check_cron, drill_schedule_id
from hvdr.errors import ConfigError, Conflict, HvdrError, NotFound, TemporalUnavailable
from hvdr.failover import (
    OPERATION_KINDS,
    FailoverReport,
    FailoverSpec,
    ShutdownMode,
    failback_workflow_id,
    failover_workflow_id,
    operation_workflow_id,
)
from hvdr.models import DiscoveredSite, DiscoveryRequest, PingReply, PingRequest, PingResult, RunSummary
from hvdr.monitor import HostLive, RpoSeries, monitor_workflow_id
from hvdr.outcomes import (
    SETTLED,
    STARTING,
    CommandOutcome,
    ProtectionProgress,
    ProtectionRollout,
    ProtectionRun,
)
from hvdr.plan import (
    CANCEL_UPDATE,
    CLEANUP_UPDATE,
    COMMIT_UPDATE,
    PlanCommand,
    PlanReport,
    PlanSpec,
    measured_times,
    plan_workflow_id,
)
from hvdr.protection import (
    MONITORED,
    Alert,
    AlertKind,
    CommandResult,
    DisableRequest,
    Endpoint,
    Phase,
    PolicyChange,
    ProtectionInput,
    ProtectionPolicy,
    ProtectionSpec,
    ProtectionState,
    ProtectionStatus,
    ResyncRequest,
    Severity,
    protection_workflow_id,
)
from hvdr.replication import ReplicationHealth
from hvdr.report import REPORT_SOURCES, RunFacts, RunReport
from hvdr.settings import WORKFLOW_TASK_QUEUE, Settings, load_settings, site_task_queue
from hvdr.testfailover import (
    CleanupRequest,
    RecoveryPointChoice,
    TestFailoverInput,
    TestFailoverReport,
    TestFailoverSpec,
    testfailover_workflow_id,
)
from hvdr.topology import ReplicationPolicy
from hvdr.unplanned import (
    RecoveryPoints,
    RecoveryPointsRequest,
    ReverseReport,
    ReverseSpec,
    UnplannedReport,
    UnplannedSpec,
    reverse_workflow_id,
)
from hvdr.visibility import HVDR_KIND, HVDR_PHASE, HVDR_SITE, HVDR_VM, check_kind, search_attributes

if TYPE_CHECKING:  # both would load the driver / SQLAlchemy into every workflow sandbox that imports hvdr
    from sqlmodel import Session

    from hvdr.estate import EstateReport
    from hvdr.readiness import CheckReport, CheckRequest, CheckSchedule, ReadinessAlerts

M = TypeVar("M")

REASON_MAX = 1000
"""Characters of a reason given with ``hvdr approve`` / ``reject`` (it goes into the run's record)."""

FIRST_TASK_TIMEOUT = timedelta(minutes=1)
"""Workflow task timeout of protection runs: a run's first task imports its modules into a fresh sandbox, and on a
busy worker (a burst of hundreds of new runs, a shared machine) that took longer than Temporal's 10-s default —
each timeout threw the work away and retried it, and the burst never settled."""
STARTED_BY = "hvdr.startedBy"
_T = TypeVar("_T")
DRILL_CRON = "hvdr.cron"
"""The memo key that names who started a run (``HVDR_IDENTITY``, else ``<OS user>@<host>``)."""


def _tls(settings: Settings) -> TLSConfig | bool:
    temporal = settings.temporal
    if not temporal.uses_tls:
        return False
    try:
        return TLSConfig(
            server_root_ca_cert=temporal.tls_ca.read_bytes() if temporal.tls_ca else None,
            client_cert=temporal.tls_cert.read_bytes() if temporal.tls_cert else None,
            client_private_key=temporal.tls_key.read_bytes() if temporal.tls_key else None,
            domain=temporal.tls_server_name,
        )
    except OSError as exc:
        raise ConfigError(f"cannot read a TLS file ({exc.filename}): {exc.strerror}") from exc


async def connect_temporal(settings: Settings) -> TemporalClient:
    """A Temporal client for these settings: hvdr's data converter (with the payload codec when keys are set),
    the audit identity, which Temporal records on every start, update, signal and cancel it sends, the
    tracing and retry-metrics interceptors and the process's Temporal runtime (metrics): workers built on it
    trace and measure too."""
    from hvdr import telemetry  # here: `import hvdr` stays light (see _inventory)

    try:
        return await TemporalClient.connect(
            settings.temporal.address,
            namespace=settings.temporal.namespace,
            tls=_tls(settings),
            data_converter=data_converter(settings),
            identity=settings.identity,
            interceptors=telemetry.interceptors(),
            runtime=telemetry.runtime(),
        )
    except RuntimeError as exc:
        raise TemporalUnavailable(
            f"cannot reach Temporal at {settings.temporal.address} ({_connect_reason(str(exc))}): start the "
            "embedded server with `hvdr server start`, or set HVDR_TEMPORAL_ADDRESS"
        ) from exc


def _connect_reason(text: str) -> str:
    """The gist of the SDK's connection error (it nests the transport's whole debug representation)."""
    lowered = text.lower()
    for marker, reason in (
        ("connectionrefused", "connection refused"),
        ("connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("dns error", "unknown host name"),
        ("certificate", "TLS certificate problem"),
    ):
        if marker in lowered:
            return reason
    return text.splitlines()[0][:160]


def _root_cause(error: BaseException) -> str:
    """The innermost cause's message: ``str(WorkflowFailureError)`` alone says only "Workflow execution failed"."""
    cause = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    return getattr(cause, "message", None) or str(cause)


class Client:
    """Start, observe and command hvdr runs."""

    def __init__(self, temporal: TemporalClient, settings: Settings) -> None:
        self.temporal = temporal
        self.settings = settings

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> Self:
        settings = settings or load_settings()
        return cls(await connect_temporal(settings), settings)

    def _audit(self) -> dict[str, str]:
        """The start memo: who started the run, readable from the run's description (Temporal also records
        the client identity on every event the client causes: start, update, signal, cancel, terminate)."""
        return {STARTED_BY: self.settings.identity}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def pollers(self, task_queue: str, *, workflows: bool = False) -> list[str]:
        """The identities of the workers polling a task queue right now."""
        kind = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW if workflows else TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
        try:
            response = await self.temporal.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.settings.temporal.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=kind,
                )
            )
        except RPCError as exc:
            raise TemporalUnavailable(f"cannot describe task queue {task_queue}: {exc.message}") from exc
        return [poller.identity for poller in response.pollers]

    async def wait_for_pollers(self, task_queue: str, *, workflows: bool = False, timeout: float = 5.0) -> bool:
        """True once some worker polls the task queue; False if none does within ``timeout`` seconds.

        A worker that has just started takes a moment to appear, so a brief wait avoids a false alarm.
        """
        deadline = time.monotonic() + timeout
        while not await self.pollers(task_queue, workflows=workflows):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.1)
        return True

    async def ping(self, site: str, *, timeout: timedelta = timedelta(seconds=60)) -> PingResult:
        """Run a workflow whose activity executes on the site's worker; report where and how fast."""
        if not await self.wait_for_pollers(WORKFLOW_TASK_QUEUE, workflows=True):
            raise HvdrError(
                f"no hvdr worker polls the workflow task queue {WORKFLOW_TASK_QUEUE!r}: "
                f"start one with `hvdr worker --site {site}` or `hvdr up`"
            )
        if not await self.wait_for_pollers(site_task_queue(site)):
            raise HvdrError(
                f"no worker serves site {site!r} (task queue {site_task_queue(site)}): "
                f"start one with `hvdr worker --site {site}` or `hvdr up`"
            )
        began = time.perf_counter()
        handle = await self.temporal.start_workflow(
            "Ping",
            PingRequest(site=site),
            id=f"ping/{site}/{uuid.uuid4()}",
            task_queue=WORKFLOW_TASK_QUEUE,
            result_type=PingReply,
            execution_timeout=timeout,
            search_attributes=search_attributes("ping", site=site),
            static_summary=f"ping site {site}",
            memo=self._audit(),
        )
        try:
            reply = await handle.result()
        except WorkflowFailureError as exc:
            raise HvdrError(f"ping of site {site!r} failed: {_root_cause(exc)}") from exc
        round_trip = (time.perf_counter() - began) * 1000
        description = await handle.describe()
        started = description.start_time
        return PingResult(
            site=site,
            workflow_id=handle.id,
            run_id=description.run_id,
            reply=reply,
            started_at=started,
            activity_latency_ms=(reply.answered_at - started).total_seconds() * 1000,
            round_trip_ms=round_trip,
        )

    async def discover(self, sites: list[str]) -> list[DiscoveredSite]:
        """What each site's VMM server (or hosts) report: hosts, VMs, clouds. Runs on the sites' workers."""
        for site in sites:
            if not await self.wait_for_pollers(site_task_queue(site)):
                raise HvdrError(f"no worker serves site {site!r}: start one with `hvdr worker --site {site}`")
        try:
            results: list[DiscoveredSite] = await self.temporal.execute_workflow(
                "Discovery",
                DiscoveryRequest(sites=sites),
                id=f"discover/{'+'.join(sites)}/{uuid.uuid4()}",
                task_queue=WORKFLOW_TASK_QUEUE,
                search_attributes=search_attributes("discovery"),
                static_summary=f"discover {', '.join(sites)}",
                memo=self._audit(),
                result_type=list[DiscoveredSite],
                execution_timeout=timedelta(minutes=30),
            )
        except WorkflowFailureError as exc:
            raise HvdrError(f"discovery failed: {_root_cause(exc)}") from exc
        return results

    # -- readiness ------------------------------------------------------------------------------------------

    async def check(self, request: CheckRequest) -> CheckReport:
        """A readiness check (``check/<id>``): each host read once on its site's worker, compared with the
        inventory. Build the request with :func:`hvdr.inventory.readiness.check_request`."""
        from hvdr.readiness import CheckReport

        try:
            report: CheckReport = await self.temporal.execute_workflow(
                "Check",
                request,
                id=f"check/{request.check_id}",
                task_queue=WORKFLOW_TASK_QUEUE,
                search_attributes=search_attributes("check"),
                static_summary="readiness check",
                memo=self._audit(),
                result_type=CheckReport,
                execution_timeout=timedelta(minutes=30),
            )
        except WorkflowFailureError as exc:
            raise HvdrError(f"the readiness check failed: {_root_cause(exc)}") from exc
        return report

    async def check_schedule(
        self,
        every_s: float | None = None,
        cron: str | None = None,
        *,
        cloud: str | None = None,
        site: str | None = None,
        certificate_days: int = 14,
    ) -> CheckSchedule:
        """Run the readiness check on a Temporal Schedule (``check/<scope>``: ``estate``, or the cloud or site it is
        limited to), every ``every_s`` seconds or on ``cron``; each run raises its findings as alerts (see
        :class:`hvdr.workflows.readiness.ScheduledCheckWorkflow`)."""
        from temporalio.client import (
            Schedule,
            ScheduleActionStartWorkflow,
            ScheduleAlreadyRunningError,
            ScheduleIntervalSpec,
            ScheduleOverlapPolicy,
            SchedulePolicy,
            ScheduleSpec,
            ScheduleState,
        )

        from hvdr.inventory.readiness import check_request
        from hvdr.readiness import (
            ESTATE_SCOPE,
            SCHEDULE_KIND,
            ScheduledCheckInput,
            check_schedule_id,
            scheduled_check_workflow_id,
        )

        if (every_s is None) == (cron is None):
            raise ConfigError("say when: --every DURATION (e.g. 1h) or --cron EXPRESSION, one of the two")
        if every_s is not None and every_s < 60:
            raise ConfigError(f"--every {every_s:g} s is too often: a check reads every host; use 1m or more")
        if cloud and site:
            raise ConfigError("limit the check to a cloud or to a site, not both")
        session_for, _, _ = _inventory()
        with session_for(self.settings) as session:  # an unknown cloud or site is refused now, not at each run
            check_request(session, "validate", cloud=cloud, site=site, certificate_days=certificate_days)
        if cron is not None:
            try:
                cron = check_cron(cron)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        scope = cloud or site or ESTATE_SCOPE
        schedule_id = check_schedule_id(scope)
        every = f"every {_span(every_s)}" if every_s is not None else f"cron {cron}"
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                "ScheduledCheck",
                ScheduledCheckInput(scope=scope, cloud=cloud, site=site, certificate_days=certificate_days),
                id=scheduled_check_workflow_id(scope),
                task_queue=WORKFLOW_TASK_QUEUE,
                typed_search_attributes=search_attributes(SCHEDULE_KIND, site=site, phase="scheduled"),
                static_summary=f"scheduled readiness check ({scope})",
                memo={STARTED_BY: f"schedule {schedule_id} (created by {self.settings.identity})"},
                execution_timeout=timedelta(minutes=30),
            ),
            spec=ScheduleSpec(
                intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_s))] if every_s is not None else [],
                cron_expressions=[cron] if cron is not None else [],
            ),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            state=ScheduleState(note=f"created by {self.settings.identity}"),
        )
        try:
            await self.temporal.create_schedule(schedule_id, schedule, memo={DRILL_CRON: every})
        except ScheduleAlreadyRunningError:
            raise Conflict(
                f"{scope} already has a scheduled check ({schedule_id}): `hvdr check delete"
                + ("" if scope == ESTATE_SCOPE else f" --{'cloud' if cloud else 'site'} {scope}")
                + "` first"
            ) from None
        except RPCError as exc:
            if exc.status is RPCStatusCode.INVALID_ARGUMENT:
                raise ConfigError(f"the schedule was refused: {exc.message}") from None
            raise TemporalUnavailable(f"cannot create {schedule_id}: {exc.message}") from exc
        return await self.check_schedule_info(scope)

    async def check_schedule_info(self, scope: str) -> CheckSchedule:
        """One scheduled check: when, paused, next runs, its latest runs and the newest one's verdict."""
        from hvdr.readiness import CheckSchedule, check_schedule_id

        handle = self.temporal.get_schedule_handle(check_schedule_id(scope))
        try:
            described = await handle.describe()
        except RPCError as exc:
            raise self._no_check_schedule(scope, exc) from exc
        recent = [
            a.action.workflow_id
            for a in described.info.recent_actions
            if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
        ]
        last = ""
        alerts = await self._readiness_alerts({handle.id})
        if alerts:
            newest = alerts[0]
            verdict = "ready" if newest.ready else f"NOT READY: {newest.errors} error(s)"
            last = f"{verdict}, {newest.warnings} warning(s) at {newest.checked_at:%Y-%m-%d %H:%M:%S} UTC"
        return CheckSchedule(
            schedule_id=handle.id,
            scope=scope,
            every=await described.memo_value(DRILL_CRON, default="", type_hint=str),
            paused=described.schedule.state.paused,
            note=described.schedule.state.note or "",
            next_runs=list(described.info.next_action_times[:3]),
            recent_runs=recent,
            last=last,
        )

    async def check_schedules(self) -> list[CheckSchedule]:
        """Every scheduled readiness check, by scope."""
        from hvdr.readiness import SCHEDULE_KIND

        return sorted(await self._schedules(SCHEDULE_KIND, self.check_schedule_info), key=lambda s: s.scope)

    async def check_schedule_delete(self, scope: str) -> str:
        """Delete a scheduled check; its id. Its last findings stop showing as alerts."""
        from hvdr.readiness import check_schedule_id

        handle = self.temporal.get_schedule_handle(check_schedule_id(scope))
        try:
            await handle.delete()
        except RPCError as exc:
            raise self._no_check_schedule(scope, exc) from exc
        return handle.id

    def _no_check_schedule(self, scope: str, exc: RPCError) -> HvdrError:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return NotFound(
                f"no scheduled check of {scope!r}: `hvdr check list` lists them, `hvdr check schedule --every 1h` "
                "creates one"
            )
        return TemporalUnavailable(f"cannot reach the scheduled check of {scope}: {exc.message}")

    async def _readiness_alerts(self, schedules: set[str] | None = None) -> list[ReadinessAlerts]:
        """The newest completed run's findings of each scheduled check (of ``schedules``, or of every one that still
        exists), newest first: what ``hvdr status`` shows as readiness alerts."""
        if schedules is None:
            schedules = {s.id async for s in await self.temporal.list_schedules() if s.id.startswith("check/")}
        if not schedules:
            return []
        from hvdr.readiness import ReadinessAlerts  # here: a status with no scheduled check never loads it

        found: dict[str, ReadinessAlerts] = {}
        query = "WorkflowType = 'ScheduledCheck' AND ExecutionStatus = 'Completed'"
        async for execution in self.temporal.list_workflows(query, limit=200):
            try:
                alerts = await execution.memo_value("readiness", None, type_hint=ReadinessAlerts)
            except Exception:  # a memo another version wrote: skipped, as the status memos are
                continue
            if alerts is not None and alerts.schedule_id in schedules and alerts.schedule_id not in found:
                found[alerts.schedule_id] = alerts
            if len(found) == len(schedules):
                break
        return sorted(found.values(), key=lambda a: a.checked_at, reverse=True)

    # -- protection -----------------------------------------------------------------------------------------

    def protection_targets(self, vms: str | Sequence[str] | None = None, cloud: str | None = None) -> list[str]:
        """The VM names a by-name call means: the given ones (each checked in the inventory), or every VM of
        the (primary) cloud. Touches only the inventory, so a bad name fails before anything is sent."""
        return resolve_vms(self.settings, vms, cloud)

    async def protect(
        self,
        vms: str | Sequence[str | ProtectionSpec] | None = None,
        *,
        cloud: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
        on_progress: Callable[[ProtectionProgress], None] | None = None,
        time_scale: float | None = None,
        concurrency: int = 32,
    ) -> ProtectionRollout:
        """Protect VMs by name, or every VM of a cloud: one run per VM (``protect/<vm>``), each resolved from the
        inventory (host, cloud pairing, policy, replica host). A VM already protected keeps its run.

        Runs start ``concurrency`` at a time. With ``wait`` it returns once every run has settled (replicating,
        failed, paused or disabled); ``on_progress`` sees each aggregate poll. ``time_scale`` is the hosts'
        clock speed (default from the settings: the running lab's speed, else 1).
        """
        specs = self._specs(vms, cloud, time_scale)
        began = time.perf_counter()
        since = datetime.now(UTC) - timedelta(seconds=5)
        gate = asyncio.Semaphore(concurrency)

        async def start(spec: ProtectionSpec) -> ProtectionRun:
            async with gate:
                handle = await self.temporal.start_workflow(
                    "Protection",
                    ProtectionInput.new(spec),
                    id=protection_workflow_id(spec.vm),
                    task_queue=WORKFLOW_TASK_QUEUE,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    search_attributes=search_attributes("protection", site=spec.primary.site, vm=spec.vm),
                    static_summary=f"protect {spec.vm}: {spec.primary.site} → {spec.replica.site}",
                    task_timeout=FIRST_TASK_TIMEOUT,
                    memo=self._audit(),
                    result_type=ProtectionStatus,
                )
            return ProtectionRun(vm=spec.vm, workflow_id=handle.id, run_id=handle.result_run_id)

        runs = list(await asyncio.gather(*(start(spec) for spec in specs)))
        rollout = ProtectionRollout(runs=runs, start_seconds=time.perf_counter() - began)
        if wait:
            rollout.progress = await self.wait_protected(
                [r.vm for r in runs], timeout=timeout, on_progress=on_progress, since=since
            )
        return rollout

    def _specs(
        self, vms: str | Sequence[str | ProtectionSpec] | None, cloud: str | None, time_scale: float | None
    ) -> list[ProtectionSpec]:
        given = [vms] if isinstance(vms, str) else list(vms or [])
        specs = [item for item in given if isinstance(item, ProtectionSpec)]
        names = [item for item in given if isinstance(item, str)]
        if specs and not names and cloud is None:
            return specs
        scale = time_scale or self.settings.time_scale
        session_for, protection_specs, _ = _inventory()
        with session_for(self.settings) as session:
            resolved = protection_specs(session, self.protection_targets(names, cloud), scale)
        return specs + resolved

    async def protection_progress(
        self, vms: Sequence[str], *, since: datetime | None = None, reasons: dict[str, str] | None = None
    ) -> ProtectionProgress:
        """Where these VMs' protection runs stand, from visibility: one listing, not a query per run.

        ``since``: runs that closed before it are history, not the VM's protection. ``reasons`` caches why a
        failed run failed (asked of the run once).
        """
        since = since or datetime.now(UTC) - timedelta(days=1)
        wanted = {protection_workflow_id(vm): vm for vm in vms}
        query = (
            "HvdrKind = 'protection' AND (ExecutionStatus = 'Running' OR CloseTime >= "
            f"'{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}')"
        )
        latest: dict[str, tuple[datetime, WorkflowExecutionStatus | None, str | None]] = {}
        async for run in self.temporal.list_workflows(query):
            if run.id in wanted and (run.id not in latest or run.start_time >= latest[run.id][0]):
                latest[run.id] = (run.start_time, run.status, run.typed_search_attributes.get(HVDR_PHASE))
        reasons = {} if reasons is None else reasons
        progress = ProtectionProgress(total=len(wanted))
        failed_running: list[str] = []
        for workflow_id, vm in wanted.items():
            _, status, phase = latest.get(workflow_id, (None, WorkflowExecutionStatus.RUNNING, None))
            label = phase or STARTING
            if status is WorkflowExecutionStatus.CONTINUED_AS_NEW:
                label = phase or STARTING  # its successor is not listed yet: still settling
                progress.pending.append(vm)
            elif status is not WorkflowExecutionStatus.RUNNING and label != Phase.DISABLED.value:
                label = Phase.FAILED.value
                ended = status.name.lower() if status else "closed"
                progress.failed[vm] = f"its run {ended} (see protect/{vm} in the web UI)"
            elif label == Phase.FAILED.value:
                failed_running.append(vm)
            elif label == Phase.REPLICATING.value:
                progress.replicating.append(vm)
            elif label not in {p.value for p in SETTLED}:
                progress.pending.append(vm)
            progress.phases[label] = progress.phases.get(label, 0) + 1
        gate = asyncio.Semaphore(16)

        async def reason(vm: str) -> None:
            async with gate:
                try:
                    reasons[vm] = (await self.protection_status(vm)).error or "failed (no error recorded)"
                except NotFound as exc:
                    reasons[vm] = exc.message

        await asyncio.gather(*(reason(vm) for vm in failed_running if vm not in reasons))
        progress.failed.update({vm: reasons[vm] for vm in failed_running})
        return progress

    async def wait_protected(
        self,
        vms: str | Sequence[str] | None = None,
        *,
        cloud: str | None = None,
        timeout: float | None = None,
        interval: float = 1.0,
        on_progress: Callable[[ProtectionProgress], None] | None = None,
        since: datetime | None = None,
    ) -> ProtectionProgress:
        """Wait until every named VM's protection run settles (replicating, failed, paused or disabled) and
        return where they stand. Raises :class:`HvdrError` after ``timeout`` seconds (None: no limit)."""
        names = self.protection_targets(vms, cloud)
        deadline = None if timeout is None else time.monotonic() + timeout
        reasons: dict[str, str] = {}
        while True:
            progress = await self.protection_progress(names, since=since, reasons=reasons)
            if on_progress is not None:
                on_progress(progress)
            if progress.done:
                return progress
            if deadline is not None and time.monotonic() >= deadline:
                raise HvdrError(f"protection did not settle within {timeout:g} s: {progress.summary()}")
            await asyncio.sleep(interval)

    async def wait_replicating(
        self, vms: str | Sequence[str] | None = None, *, cloud: str | None = None, timeout: float | None = None
    ) -> ProtectionProgress:
        """Wait until every named VM replicates; raises :class:`Conflict` naming each VM that settled otherwise
        (failed with its reason, paused, disabled)."""
        progress = await self.wait_protected(vms, cloud=cloud, timeout=timeout)
        names = self.protection_targets(vms, cloud)
        others = [vm for vm in names if vm not in set(progress.replicating)]
        if others:
            why = "; ".join(f"{vm}: {progress.failed.get(vm, 'not replicating')}" for vm in others[:5])
            more = f" (and {len(others) - 5} more)" if len(others) > 5 else ""
            raise Conflict(f"{len(others)} of {progress.total} VM(s) do not replicate: {why}{more}")
        return progress

    def _protection(self, vm: str) -> WorkflowHandle[object, ProtectionStatus]:
        return self.temporal.get_workflow_handle(protection_workflow_id(vm), result_type=ProtectionStatus)

    async def _legacy_protection(self, vm: str) -> WorkflowHandle[object, ProtectionStatus] | None:
        """A run started before workflow ids were lower-cased (``protect/DB-01``), if one is running."""
        if protection_workflow_id(vm) == f"protect/{vm}":
            return None
        handle = self.temporal.get_workflow_handle(f"protect/{vm}", result_type=ProtectionStatus)
        try:
            description = await handle.describe()
        except RPCError:
            return None
        return handle if description.status is WorkflowExecutionStatus.RUNNING else None

    async def _query_status(self, handle: WorkflowHandle[object, ProtectionStatus], vm: str) -> ProtectionStatus:
        try:
            status: ProtectionStatus = await handle.query("status", result_type=ProtectionStatus)
        except RPCError as exc:
            legacy = await self._legacy_protection(vm)
            if legacy is not None:
                return await self._query_status(legacy, vm.lower())
            raise NotFound(f"VM {vm!r} is not protected (no run {protection_workflow_id(vm)}): {exc.message}") from exc
        return status

    async def protection_status(self, vm: str) -> ProtectionStatus:
        """The protection of one VM, as its run knows it now, with the live RPO its host's monitor last read."""
        status = await self._query_status(self._protection(vm), vm)
        live: dict[str, HostLive] = {}
        try:
            description = await self.temporal.get_workflow_handle(monitor_workflow_id(status.primary_host)).describe()
            memo = await description.memo_value("live", None, type_hint=HostLive)
        except (RPCError, ValueError, TypeError):  # no monitor (yet), or a memo another version wrote
            return status
        if memo is not None and description.status is WorkflowExecutionStatus.RUNNING:
            live[memo.host.lower()] = memo
        return with_live(status, live)

    async def _memos(
        self, query: str, key: str, type_hint: type[M]
    ) -> list[tuple[WorkflowExecutionInfo, M | Exception | None]]:
        """(the run, its ``key`` memo, or why that could not be read, or None) for every run the query lists, in
        pages of 1,000.

        Straight from the list RPC: the SDK's listing decodes every search attribute of every run (Temporal's
        built-in ones too: most of the client's time for 1,000 runs), where a status needs one memo a run.
        """
        found: list[tuple[WorkflowExecutionInfo, M | Exception | None]] = []
        token = b""
        while True:
            page = await self.temporal.workflow_service.list_workflow_executions(
                ListWorkflowExecutionsRequest(
                    namespace=self.temporal.namespace, query=query, page_size=1000, next_page_token=token
                )
            )
            for info in page.executions:
                payload = info.memo.fields.get(key)
                value: M | Exception | None = None
                if payload is not None:
                    try:
                        value = (await self.temporal.data_converter.decode([payload], [type_hint]))[0]
                    except Exception as exc:  # a memo another version wrote, or a broken payload
                        value = exc
                found.append((info, value))
            token = page.next_page_token
            if not token:
                return found

    async def _monitors(self) -> dict[str, HostLive]:
        """Every running host monitor's last measurement, by host name in lower case (one listing)."""
        found: dict[str, HostLive] = {}
        query = "HvdrKind = 'monitor' AND ExecutionStatus = 'Running'"
        for _, memo in await self._memos(query, "live", HostLive):
            if isinstance(memo, HostLive):  # else unreadable (another version's): the runs' own values are shown
                found[memo.host.lower()] = memo
        return found

    async def protection_statuses(self) -> list[ProtectionStatus]:
        """Every VM under protection (running protection runs), by VM name, from Temporal's visibility.

        One list call reads each run's ``status`` memo (which the run upserts when what it shows changes), another
        the host monitors' ``live`` memo (state, health and RPO of every VM at the monitor's last tick); no run is
        queried or replayed. A run whose memo is missing or unreadable is listed in phase ``unknown``, never
        dropped.
        """
        query = "HvdrKind = 'protection' AND ExecutionStatus = 'Running'"
        monitors = asyncio.ensure_future(self._monitors())
        readiness = asyncio.ensure_future(self._readiness_alerts())
        rows: list[ProtectionStatus] = []
        for info, status in await self._memos(query, "status", ProtectionStatus):
            workflow_id = info.execution.workflow_id
            vm = _keyword(info, HVDR_VM.name) or workflow_id.removeprefix("protect/")
            if isinstance(status, Exception):
                rows.append(ProtectionStatus.unknown(vm, workflow_id, f"unreadable status memo: {status}"))
            elif status is None:
                rows.append(ProtectionStatus.unknown(vm, workflow_id, "the run has not published a status yet"))
            else:
                rows.append(status)
        live = await monitors
        try:
            checks = await readiness
        except RPCError:  # a server without schedules (the test server): no scheduled check to show
            checks = []
        return sorted((with_readiness(with_live(row, live), checks) for row in rows), key=lambda s: s.vm.lower())

    async def terminate_protections(self, reason: str) -> int:
        """End every running protection run at once, touching no host (for rehearsal namespaces such as the
        demo's: real protection ends with ``disable``, which removes replication). Returns how many ended."""
        ended = 0
        query = "HvdrKind IN ('protection', 'monitor') AND ExecutionStatus = 'Running'"
        async for run in self.temporal.list_workflows(query):  # the host monitors too: they watch nothing now
            await self.temporal.get_workflow_handle(run.id).terminate(reason)
            ended += run.id.startswith("protect/")
        return ended

    async def _command(self, vm: str, update: str, argument: object | None = None) -> CommandResult:
        handle = await self._legacy_protection(vm) or self._protection(vm)
        try:
            description = await handle.describe()
        except RPCError as exc:
            raise NotFound(f"VM {vm!r} is not protected: start with `hvdr protect enable --vm {vm}`") from exc
        if description.status is not WorkflowExecutionStatus.RUNNING:
            ended = description.status.name.lower() if description.status else "closed"
            raise NotFound(f"VM {vm!r} is not protected any more (its run is {ended})")
        try:
            args = [] if argument is None else [argument]
            result: CommandResult = await handle.execute_update(update, args=args, result_type=CommandResult)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            message = getattr(cause, "message", None) or str(cause)
            raise Conflict(message) from exc
        return result

    async def _by_names(
        self, update: str, vms: str | list[str] | None, cloud: str | None, argument: object | None = None
    ) -> CommandResult | list[CommandOutcome]:
        """One VM named as a string: its result, or the error raised. Several (or a cloud): every VM is asked,
        ``concurrency`` at a time, and each answers with an outcome — a refusal does not stop the others."""
        if isinstance(vms, str) and cloud is None:
            self.protection_targets(vms)
            return await self._command(vms, update, argument)
        names = self.protection_targets(vms, cloud)
        gate = asyncio.Semaphore(16)

        async def one(vm: str) -> CommandOutcome:
            async with gate:
                try:
                    result = await self._command(vm, update, argument)
                except HvdrError as exc:
                    return CommandOutcome(vm=vm, ok=False, message=exc.message)
            return CommandOutcome(vm=vm, ok=True, phase=result.phase, message=result.message)

        return list(await asyncio.gather(*(one(vm) for vm in names)))

    @overload
    async def pause(self, vms: str) -> CommandResult: ...
    @overload
    async def pause(self, vms: list[str] | None = None, *, cloud: str | None = None) -> list[CommandOutcome]: ...
    async def pause(
        self, vms: str | list[str] | None = None, *, cloud: str | None = None
    ) -> CommandResult | list[CommandOutcome]:
        """Suspend replication of protected VMs (Suspend-VMReplication)."""
        return await self._by_names("pause", vms, cloud)

    @overload
    async def resume(self, vms: str) -> CommandResult: ...
    @overload
    async def resume(self, vms: list[str] | None = None, *, cloud: str | None = None) -> list[CommandOutcome]: ...
    async def resume(
        self, vms: str | list[str] | None = None, *, cloud: str | None = None
    ) -> CommandResult | list[CommandOutcome]:
        """Resume replication of paused VMs, or retry a failed enable / initial copy."""
        return await self._by_names("resume", vms, cloud)

    @overload
    async def resync(
        self, vms: str, request: ResyncRequest | None = None, *, at: datetime | None = None
    ) -> CommandResult: ...
    @overload
    async def resync(
        self,
        vms: list[str] | None = None,
        request: ResyncRequest | None = None,
        *,
        cloud: str | None = None,
        at: datetime | None = None,
    ) -> list[CommandOutcome]: ...
    async def resync(
        self,
        vms: str | list[str] | None = None,
        request: ResyncRequest | None = None,
        *,
        cloud: str | None = None,
        at: datetime | None = None,
    ) -> CommandResult | list[CommandOutcome]:
        """Resynchronize VMs' replicas (now, or ``at`` a time within 7 days)."""
        return await self._by_names("resync", vms, cloud, request or ResyncRequest(start_at=at))

    @overload
    async def change_policy(self, vms: str, policy: str | ReplicationPolicy) -> CommandResult: ...
    @overload
    async def change_policy(
        self, vms: list[str] | None, policy: str | ReplicationPolicy, *, cloud: str | None = None
    ) -> list[CommandOutcome]: ...
    async def change_policy(
        self, vms: str | list[str] | None, policy: str | ReplicationPolicy, *, cloud: str | None = None
    ) -> CommandResult | list[CommandOutcome]:
        """Apply another replication policy (by name from the inventory, or as given) to protected VMs."""
        if isinstance(policy, str):
            from hvdr.inventory.queries import policy as stored_policy

            session_for, _, _ = _inventory()
            with session_for(self.settings) as session:
                policy = stored_policy(session, policy)
        return await self._by_names("change_policy", vms, cloud, PolicyChange(policy=ProtectionPolicy.of(policy)))

    @overload
    async def disable(
        self, vms: str, request: DisableRequest | None = None, *, delete_replica: bool | None = None
    ) -> CommandResult: ...
    @overload
    async def disable(
        self,
        vms: list[str] | None = None,
        request: DisableRequest | None = None,
        *,
        cloud: str | None = None,
        delete_replica: bool | None = None,
    ) -> list[CommandOutcome]: ...
    async def disable(
        self,
        vms: str | list[str] | None = None,
        request: DisableRequest | None = None,
        *,
        cloud: str | None = None,
        delete_replica: bool | None = None,
    ) -> CommandResult | list[CommandOutcome]:
        """Stop protecting VMs: remove replication on both hosts (and the replica VM if asked, else as the
        policy says); their runs end."""
        return await self._by_names("disable", vms, cloud, request or DisableRequest(delete_replica=delete_replica))

    # -- failover -------------------------------------------------------------------------------------------

    async def operation_conflict(self, vm: str) -> str | None:
        """Why no operation may start on the VM now, in one line, or None when none runs: a running run of any
        operation kind (``<kind>/<vm>``, :data:`hvdr.failover.OPERATION_KINDS`), or the VM's protection run held
        by one. Every operation calls it before it starts a run (nothing is changed when it refuses); the run
        then claims the VM atomically through its protection run (:mod:`hvdr.activities.runs`)."""
        for kind in OPERATION_KINDS:
            workflow_id = operation_workflow_id(kind, vm)
            try:
                description = await self.temporal.get_workflow_handle(workflow_id).describe()
            except RPCError:
                continue  # never ran
            if description.status is WorkflowExecutionStatus.RUNNING:
                return f"{vm} is busy: {workflow_id} is running; wait for it to end (`hvdr show {workflow_id}`)"
        try:
            details = await self._protection(vm).query("details")
        except RPCError:
            return None
        holder = details.get("failover_operation") if isinstance(details, dict) else None
        if details.get("phase") == Phase.FAILOVER.value and holder:
            return f"{vm} is busy: {holder} holds it; wait for it to end (`hvdr show {holder}`)"
        return None

    async def failover_spec(
        self,
        vm: str,
        *,
        back: bool = False,
        shutdown: ShutdownMode = "graceful",
        rollback: bool = True,
        force: bool = False,
        time_scale: float | None = None,
    ) -> FailoverSpec:
        """What a planned failover (or, with ``back``, a failback) of the VM would do, after refusing what a
        careful administrator would refuse: another operation on the VM, a VM not protected or not Replicating
        (even with ``force``), Critical health (unless ``force`` and the last replication is recent)."""
        busy = await self.operation_conflict(vm)
        if busy is not None:
            raise Conflict(busy)
        status = await self._protected(vm, force)
        session_for, failover_spec, vm_home = _failover_inventory()
        source = Endpoint(site=status.primary_site, host=status.primary_host)
        target = Endpoint(site=status.replica_site, host=status.replica_host)
        with session_for(self.settings) as session:
            if back:
                home_host, home_site = vm_home(session, vm)
                if status.primary_site == home_site:
                    raise Conflict(
                        f"{vm} is already home: it runs on {status.primary_host} at {home_site} (declared on "
                        f"{home_host}); failback returns a failed-over VM to its home site"
                    )
                if status.replica_site != home_site:
                    raise Conflict(
                        f"{vm} replicates to {status.replica_site}, not its home site {home_site}: failback needs "
                        "reverse replication towards home (a planned failover or `hvdr reverse` sets it up)"
                    )
            spec = failover_spec(
                session,
                vm,
                source,
                target,
                shutdown=shutdown,
                rollback=rollback,
                time_scale=time_scale or self.settings.time_scale,
            )
        return spec.model_copy(update={"kind": "failback" if back else "planned", "force": force})

    async def _protected(self, vm: str, force: bool) -> ProtectionStatus:
        """The VM's protection, refused unless it replicates now (Critical health only with ``force``)."""
        try:
            status = await self.protection_status(vm)
        except NotFound:
            status = None
        if status is None or status.phase in (Phase.DISABLED, Phase.DISABLING):
            raise Conflict(
                f"{vm} is not protected: protect it first (`hvdr protect enable --vm {vm}`); --force does not fail "
                "over a VM without a replica"
            )
        if status.phase is not Phase.REPLICATING:
            raise Conflict(
                f"{vm} is not healthy: its protection is {status.phase.value}, a failover needs it replicating "
                f"(`hvdr status`; resume or resynchronize it first: --force does not skip this)"
            )
        limit = FailoverSpec.model_fields["max_point_age_s"].default
        if status.health is ReplicationHealth.CRITICAL and not force:
            raise Conflict(
                f"{vm} is not healthy: replication health is Critical (`hvdr status`); fix it first, or pass --force "
                f"to fail over anyway while the last replication is at most {limit:.0f} s old"
            )
        if status.health is ReplicationHealth.CRITICAL and (status.rpo_s is None or status.rpo_s > limit):
            raise Conflict(
                f"{vm} is Critical and its last replication is more than {limit:.0f} s old: --force fails over "
                "only a recent replica; resynchronize it first"
            )
        return status

    async def start_planned_failover(self, spec: FailoverSpec) -> str:
        """Start a planned failover run (``failover/<vm>``), or a failback (``failback/<vm>``) when the spec's
        kind says so; refused while another operation on the VM runs."""
        back = spec.kind == "failback"
        workflow_id = failback_workflow_id(spec.vm) if back else failover_workflow_id(spec.vm)
        busy = await self.operation_conflict(spec.vm)
        if busy is not None:
            raise Conflict(busy)
        what = "failback" if back else "planned failover"
        try:
            await self.temporal.start_workflow(
                "PlannedFailover",
                spec,
                id=workflow_id,
                task_queue=WORKFLOW_TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=search_attributes(
                    "failback" if back else "failover", site=spec.source.site, vm=spec.vm, phase="preflight"
                ),
                static_summary=f"{what} of {spec.vm}: {spec.source.host} → {spec.target.host}",
                memo=self._audit(),
                result_type=FailoverReport,
            )
        except WorkflowAlreadyStartedError as exc:
            raise Conflict(
                f"a {what} of {spec.vm} is already running ({workflow_id}): wait for it (`hvdr show {workflow_id}`)"
            ) from exc
        return workflow_id

    async def failover_result(self, workflow_id: str) -> FailoverReport:
        """Wait for a failover run and return its report."""
        handle = self.temporal.get_workflow_handle(workflow_id, result_type=FailoverReport)
        try:
            report: FailoverReport = await handle.result()
            return report
        except WorkflowFailureError as exc:
            raise HvdrError(f"{workflow_id} failed: {_root_cause(exc)}") from exc

    async def failover_planned(self, spec: FailoverSpec) -> FailoverReport:
        """Fail one VM over to its replica host with zero data loss; returns the run's report."""
        return await self.failover_result(await self.start_planned_failover(spec))

    async def failback(
        self,
        vm: str,
        *,
        shutdown: ShutdownMode = "graceful",
        rollback: bool = True,
        force: bool = False,
        time_scale: float | None = None,
    ) -> FailoverReport:
        """Return a failed-over VM to its home site (where the topology declares it): a planned failover back,
        zero data loss, then reverse replication so protection runs in the original direction again. Refused when
        the VM is already home. Run id ``failback/<vm>``; returns its report."""
        spec = await self.failover_spec(
            vm, back=True, shutdown=shutdown, rollback=rollback, force=force, time_scale=time_scale
        )
        return await self.failover_result(await self.start_planned_failover(spec))

    # -- recovery plans -------------------------------------------------------------------------------------

    async def start_plan(self, spec: PlanSpec) -> str:
        """Start a plan run, id ``plan/<plan>/<n>`` (n counts the plan's runs); refused while a run of the same
        plan (other than a dry run) is running."""
        plan = spec.plan.replace("'", "")
        kind = "plan-dry-run" if spec.dry_run else "plan"
        number = 1
        async for execution in self.temporal.list_workflows(f"HvdrPlan = '{plan}'"):
            number = max(number, _run_number(execution.id) + 1)
            running = execution.status is WorkflowExecutionStatus.RUNNING
            if running and not spec.dry_run and execution.typed_search_attributes.get(HVDR_KIND) == "plan":
                raise Conflict(
                    f"plan {spec.plan} is already running ({execution.id}): wait for it (`hvdr plan show "
                    f"{execution.id}`)"
                )
        while True:
            workflow_id = plan_workflow_id(spec.plan, number)
            try:
                await self.temporal.start_workflow(
                    "Plan",
                    spec,
                    id=workflow_id,
                    task_queue=WORKFLOW_TASK_QUEUE,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    search_attributes=search_attributes(kind, plan=spec.plan, phase="starting"),
                    static_summary=(
                        f"{'dry run of ' if spec.dry_run else ''}"
                        f"{'failback' if spec.failback else f'{spec.kind} failover'} of plan {spec.plan}: "
                        f"{spec.vm_count()} VMs in {len(spec.groups)} groups"
                    ),
                    memo=self._audit(),
                    result_type=PlanReport,
                )
            except WorkflowAlreadyStartedError:
                number += 1  # visibility had not listed it yet
                continue
            return workflow_id

    async def plan_result(self, workflow_id: str, *, until_waiting: bool = False) -> PlanReport:
        """Wait for a plan run and return its report; with ``until_waiting``, return as soon as it waits for the
        operator (an unplanned run for commit or cancel, a test run for its clean-up)."""
        while until_waiting:  # a query a second: the run has no "reached the wait" event to wait on
            try:
                so_far = await self.plan_report(workflow_id)
            except (
                RPCError
            ) as exc:  # a query times out, or its workflow task is being retried, while the worker is busy
                if exc.status not in (
                    RPCStatusCode.CANCELLED,
                    RPCStatusCode.DEADLINE_EXCEEDED,
                    RPCStatusCode.FAILED_PRECONDITION,
                ):
                    raise
            else:
                if so_far.outcome != "running":
                    return so_far
            await asyncio.sleep(1.0)
        handle = self.temporal.get_workflow_handle(workflow_id, result_type=PlanReport)
        try:
            report: PlanReport = await handle.result()
            return report
        except WorkflowFailureError as exc:
            raise HvdrError(f"{workflow_id} failed: {_root_cause(exc)}") from exc
        except RPCError as exc:
            raise NotFound(f"no run {workflow_id!r}: `hvdr runs --kind plan` lists them ({exc.message})") from exc

    async def plan_report(self, workflow_id: str) -> PlanReport:
        """A plan run's report, so far (running) or final."""
        handle = self.temporal.get_workflow_handle(workflow_id.lower())
        try:
            description = await handle.describe()
        except RPCError as exc:
            raise NotFound(f"no run {workflow_id!r}: `hvdr runs --kind plan` lists them ({exc.message})") from exc
        if description.status is WorkflowExecutionStatus.COMPLETED:
            return await self.plan_result(workflow_id.lower())
        report: PlanReport = await handle.query("report", result_type=PlanReport)
        return report

    async def plan_commit(self, workflow_id: str) -> PlanReport:
        """Commit an unplanned plan run waiting for its decision (Complete-VMFailover of every verified VM; one
        that was not verified is reverted); the run's final report."""
        return await self._plan_command(workflow_id, COMMIT_UPDATE)

    async def plan_cancel(self, workflow_id: str) -> PlanReport:
        """Cancel an unplanned plan run waiting for its decision (Stop-VMFailover of every failed-over VM: each is a
        replica again, and another recovery point can be tried with a new run); the run's final report."""
        return await self._plan_command(workflow_id, CANCEL_UPDATE)

    async def plan_cleanup(self, workflow_id: str) -> PlanReport:
        """End a test plan run's keep: every test VM is removed and its removal confirmed; the final report."""
        return await self._plan_command(workflow_id, CLEANUP_UPDATE)

    async def _plan_command(self, workflow_id: str, update: str) -> PlanReport:
        handle = self.temporal.get_workflow_handle(workflow_id.lower())
        try:
            await handle.execute_update(update, PlanCommand(by=self.settings.identity))
        except WorkflowUpdateFailedError as exc:
            refused = getattr(exc.cause, "message", None) or str(exc.cause)
            raise Conflict(f"cannot {update} {workflow_id}: {refused}") from exc
        except RPCError as exc:
            if "completed" in exc.message:
                what = "clean up" if update == CLEANUP_UPDATE else update
                raise Conflict(f"nothing to {what}: {workflow_id} has ended (`hvdr plan show {workflow_id}`)") from exc
            raise NotFound(f"no running plan run {workflow_id!r}: `hvdr runs --kind plan` lists them") from exc
        return await self.plan_result(workflow_id.lower())

    async def plan_directions(self, names: Sequence[str]) -> dict[str, tuple[Endpoint, Endpoint]]:
        """Each VM's live direction (where it runs, where it replicates), by lower-cased name, from its protection
        run: as visibility lists it (one call, no run queried: on a loaded machine queries of many runs time out),
        a VM visibility does not show yet asked directly; a VM without a protection run is left out (a plan spec
        then takes the inventory's placement, and its preflight says it is not protected)."""
        wanted = {n.lower() for n in names}
        found: dict[str, tuple[Endpoint, Endpoint]] = {}
        for status in await self.protection_statuses():
            if status.vm.lower() in wanted and status.primary_host and status.replica_host:
                found[status.vm.lower()] = _direction(status)
        semaphore = asyncio.Semaphore(32)

        async def asked(vm: str) -> None:
            async with semaphore:
                try:
                    status = await self.protection_status(vm)
                except HvdrError:  # not protected: the preflight says so
                    return
            if status.primary_host and status.replica_host:
                found[vm.lower()] = _direction(status)

        await asyncio.gather(*(asked(n) for n in names if n.lower() not in found))
        return found

    async def failback_plan_spec(
        self,
        plan: str,
        *,
        shutdown: ShutdownMode = "graceful",
        rollback: bool = True,
        time_scale: float | None = None,
    ) -> PlanSpec:
        """What ``hvdr failback --plan`` runs (:meth:`start_plan` starts it, id ``plan/<plan>/<n>``): the plan's
        groups in order, each VM away from home back to its home site (a planned failover, replication reversed);
        VMs already home are left out (``already_home``). Refused when every VM is home."""
        from hvdr.inventory.db import session_for
        from hvdr.inventory.plan import declared_plan, failback_selection, plan_spec

        with session_for(self.settings) as session:
            declared = declared_plan(session, plan)
        directions = await self.plan_directions([v for g in declared.groups for v in g.vms])
        with session_for(self.settings) as session:
            away, home = failback_selection(session, declared, directions)
            spec = plan_spec(
                session,
                declared,
                directions,
                kind="planned",
                shutdown=shutdown,
                rollback=rollback,
                time_scale=time_scale or self.settings.time_scale,
                only=away,
            )
        return spec.model_copy(update={"failback": True, "already_home": home})

    async def failback_plan(
        self,
        plan: str,
        *,
        shutdown: ShutdownMode = "graceful",
        rollback: bool = True,
        time_scale: float | None = None,
    ) -> PlanReport:
        """Fail the plan back home and wait for the run's report (see :meth:`failback_plan_spec`)."""
        spec = await self.failback_plan_spec(plan, shutdown=shutdown, rollback=rollback, time_scale=time_scale)
        return await self.plan_result(await self.start_plan(spec))

    async def measured_step_times(
        self, plan: str, runs: int = 3, *, time_scale: float | None = None, kind: str | None = None
    ) -> dict[str, dict[str, float]]:
        """Step times measured in the plan's last completed runs (what a dry run predicts from). With
        ``time_scale``, only runs at that clock speed count: wall seconds measured at another speed (the lab at 60×
        against 300×, or real hosts) are another estate's, and no one factor converts them (host-time steps scale
        with it, orchestration round trips do not). With ``kind``, only runs of that kind (planned, unplanned,
        test): their steps differ."""
        query = f"HvdrKind = 'plan' AND HvdrPlan = '{plan.replace(chr(39), '')}' AND ExecutionStatus = 'Completed'"
        reports: list[PlanReport] = []
        async for execution in self.temporal.list_workflows(query):
            report = await self.plan_result(execution.id)
            if time_scale is not None and report.time_scale != time_scale:
                continue
            if kind is not None and report.kind != kind:
                continue
            reports.append(report)
            if len(reports) >= runs:
                break
        return measured_times(reports)

    # -- test failover --------------------------------------------------------------------------------------

    async def test_failover_spec(
        self, vm: str, *, point: RecoveryPointChoice | str = "latest", keep_s: float | None = None
    ) -> TestFailoverSpec:
        """A test failover's spec: the live direction from the VM's protection run, the test network, failover
        IP and RPO threshold from the inventory. Refused (``Conflict`` / ``NotFound``) while a failover of the
        VM runs or when it is not protected and replicating."""
        from temporalio.exceptions import ApplicationError

        from hvdr.activities.testfailover import refuse_conflicts
        from hvdr.inventory.testfailover import testfailover_spec

        try:
            status = await refuse_conflicts(self.temporal, vm)
        except ApplicationError as exc:
            raise (Conflict if exc.type == "OperationConflict" else NotFound)(exc.message) from None
        choice = RecoveryPointChoice.parse(point) if isinstance(point, str) else point
        session_for, _, _ = _inventory()
        with session_for(self.settings) as session:
            return testfailover_spec(
                session,
                status.vm,
                Endpoint(site=status.primary_site, host=status.primary_host),
                Endpoint(site=status.replica_site, host=status.replica_host),
                policy=status.policy or None,
                point=choice,
                keep_s=keep_s,
                time_scale=self.settings.time_scale,
            )

    async def start_test_failover(self, spec: TestFailoverSpec) -> str:
        """Start a test failover run (``testfailover/<vm>``); refused while another test of the VM runs."""
        workflow_id = testfailover_workflow_id(spec.vm)
        try:
            await self.temporal.start_workflow(
                "TestFailover",
                TestFailoverInput(spec=spec),
                id=workflow_id,
                task_queue=WORKFLOW_TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=search_attributes(
                    "testfailover", site=spec.target.site, vm=spec.vm, phase="preflight"
                ),
                static_summary=f"test failover of {spec.vm} on {spec.target.host}",
                memo=self._audit(),
                result_type=TestFailoverReport,
            )
        except WorkflowAlreadyStartedError as exc:
            raise Conflict(
                f"a test failover of {spec.vm} is already running ({workflow_id}): clean it up first "
                f"(`hvdr failover test cleanup --vm {spec.vm}`)"
            ) from exc
        return workflow_id

    async def test_failover(
        self,
        vm: str,
        *,
        point: RecoveryPointChoice | str = "latest",
        keep: timedelta | float | None = None,
        poll_s: float = 0.5,
    ) -> TestFailoverReport:
        """Test-fail one VM over: returns the run's report once the test VM runs verified and is kept (phase
        ``keep``), or once the run ended (a failure, or a keep of 0). ``keep`` (host seconds or a timedelta)
        ends the test by itself; without it the test VM stays until :meth:`test_failover_cleanup`."""
        keep_s = keep.total_seconds() if isinstance(keep, timedelta) else keep
        spec = await self.test_failover_spec(vm, point=point, keep_s=keep_s)
        workflow_id = await self.start_test_failover(spec)
        return await self.test_failover_ready(workflow_id, poll_s=poll_s)

    async def test_failover_ready(self, workflow_id: str, *, poll_s: float = 0.5) -> TestFailoverReport:
        """Wait until a test failover run keeps its verified test VM, or has ended; its report then."""
        while True:
            report = await self.test_failover_report(workflow_id)
            if report.outcome != "running":
                return await self.test_failover_result(workflow_id)
            if report.phase == "keep":
                return report
            await asyncio.sleep(poll_s)

    async def test_failover_report(self, vm_or_id: str) -> TestFailoverReport:
        """A test failover run's report so far (by VM name or run id)."""
        workflow_id = vm_or_id if vm_or_id.lower().startswith("testfailover/") else testfailover_workflow_id(vm_or_id)
        handle = self.temporal.get_workflow_handle(workflow_id.lower())
        try:
            report: TestFailoverReport = await handle.query("report", result_type=TestFailoverReport)
        except RPCError as exc:
            raise NotFound(
                f"no test failover run {workflow_id.lower()!r}: `hvdr runs --kind testfailover` ({exc.message})"
            ) from exc
        return report

    async def test_failover_cleanup(self, vm: str) -> TestFailoverReport:
        """Remove the VM's test VM now: the run stops its keep, removes it, confirms nothing is left and ends;
        returns its final report."""
        workflow_id = testfailover_workflow_id(vm)
        handle = self.temporal.get_workflow_handle(workflow_id)
        try:
            await handle.execute_update("cleanup", CleanupRequest(by=self.settings.identity), result_type=str)
        except WorkflowUpdateFailedError as exc:
            refused = getattr(exc.cause, "message", None) or str(exc.cause)
            raise Conflict(f"cannot clean up the test failover of {vm}: {refused}") from exc
        except RPCError as exc:
            raise NotFound(
                f"no test failover of {vm} is running ({workflow_id}): `hvdr runs --kind testfailover` lists them"
            ) from exc
        return await self.test_failover_result(workflow_id)

    async def test_failover_result(self, workflow_id: str) -> TestFailoverReport:
        """Wait for a test failover run to end and return its report."""
        handle = self.temporal.get_workflow_handle(workflow_id.lower(), result_type=TestFailoverReport)
        try:
            report: TestFailoverReport = await handle.result()
            return report
        except WorkflowFailureError as exc:
            raise HvdrError(f"{workflow_id} failed: {_root_cause(exc)}") from exc

    # -- drills ---------------------------------------------------------------------------------------------

    async def drill_schedule(self, plan: str, cron: str, *, note: str = "") -> DrillSchedule:
        """Schedule drills of ``plan`` (schedule id ``drill/<plan>``; each occurrence a ``drill/<plan>-<time>``
        run). Refused for an unknown plan, a bad cron expression or a plan already scheduled."""
        from temporalio.client import (
            Schedule,
            ScheduleActionStartWorkflow,
            ScheduleAlreadyRunningError,
            ScheduleOverlapPolicy,
            SchedulePolicy,
            ScheduleSpec,
            ScheduleState,
        )

        from hvdr.inventory.queries import plan as declared_plan

        try:
            expression = check_cron(cron)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        session_for, _, _ = _inventory()
        with session_for(self.settings) as session:
            name = declared_plan(session, plan).name
        schedule_id = drill_schedule_id(name)
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                "Drill",
                DrillInput(plan=name),
                id=schedule_id,
                task_queue=WORKFLOW_TASK_QUEUE,
                typed_search_attributes=search_attributes(DRILL_KIND, plan=name, phase="scheduled"),
                static_summary=f"drill of plan {name}",
                memo={STARTED_BY: f"schedule {schedule_id} (created by {self.settings.identity})"},
            ),
            spec=ScheduleSpec(cron_expressions=[expression]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            state=ScheduleState(note=note or f"created by {self.settings.identity}"),
        )
        try:
            await self.temporal.create_schedule(schedule_id, schedule, memo={DRILL_CRON: expression})
        except ScheduleAlreadyRunningError:
            raise Conflict(
                f"plan {name} already has a drill schedule ({schedule_id}): `hvdr drill delete --plan {name}` first"
            ) from None
        except RPCError as exc:
            if exc.status is RPCStatusCode.INVALID_ARGUMENT:
                raise ConfigError(f"--cron {cron!r} is not a valid cron expression: {exc.message}") from None
            raise TemporalUnavailable(f"cannot create {schedule_id}: {exc.message}") from exc
        return await self.drill_schedule_info(name)

    async def drill_schedule_info(self, plan: str) -> DrillSchedule:
        """One plan's drill schedule: cron, paused, next runs and the drills it started lately."""
        handle = self._drill_handle(plan)
        with self._on_schedule(plan):
            described = await handle.describe()
        return DrillSchedule(
            schedule_id=handle.id,
            plan=handle.id.removeprefix(f"{DRILL_KIND}/"),
            # The server keeps a cron expression as calendars; the text as written is in the schedule's memo.
            cron=[await described.memo_value(DRILL_CRON, default="", type_hint=str)],
            paused=described.schedule.state.paused,
            note=described.schedule.state.note or "",
            next_runs=list(described.info.next_action_times[:3]),
            recent_runs=[
                a.action.workflow_id
                for a in described.info.recent_actions
                if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
            ],
        )

    async def drill_schedules(self) -> list[DrillSchedule]:
        """Every plan's drill schedule, by plan name."""
        return sorted(await self._schedules(DRILL_KIND, self.drill_schedule_info), key=lambda s: s.plan)

    async def _schedules(self, kind: str, info: Callable[[str], Awaitable[_T]]) -> list[_T]:
        """``info`` of every schedule ``<kind>/<name>``, by name."""
        found = []
        async for listed in await self.temporal.list_schedules():
            if listed.id.startswith(f"{kind}/"):
                try:
                    found.append(await info(listed.id.removeprefix(f"{kind}/")))
                except NotFound:
                    continue  # deleted since it was listed
        return found

    async def drill_pause(self, plan: str) -> DrillSchedule:
        with self._on_schedule(plan):
            await self._drill_handle(plan).pause(note=f"paused by {self.settings.identity}")
        return await self.drill_schedule_info(plan)

    async def drill_resume(self, plan: str) -> DrillSchedule:
        with self._on_schedule(plan):
            await self._drill_handle(plan).unpause(note=f"resumed by {self.settings.identity}")
        return await self.drill_schedule_info(plan)

    async def drill_delete(self, plan: str) -> str:
        """Delete the schedule (drills it started keep running and keep their reports); its id."""
        handle = self._drill_handle(plan)
        with self._on_schedule(plan):
            await handle.delete()
        return handle.id

    async def drill_trigger(self, plan: str, *, timeout_s: float = 30.0) -> str:
        """Start a drill of the scheduled plan now; the new drill run's id."""
        from temporalio.client import ScheduleOverlapPolicy

        before = set((await self.drill_schedule_info(plan)).recent_runs)
        with self._on_schedule(plan):
            await self._drill_handle(plan).trigger(overlap=ScheduleOverlapPolicy.SKIP)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            started = [r for r in (await self.drill_schedule_info(plan)).recent_runs if r not in before]
            if started:
                return started[-1]
            await asyncio.sleep(0.2)
        raise Conflict(
            f"the drill schedule of {plan} did not start a drill within {timeout_s:.0f} s: a drill of it may still be "
            "running (overlapping drills are skipped): `hvdr runs --kind drill`"
        )

    async def drill_report(self, workflow_id: str) -> DrillReport:
        """A drill run's evidence so far (running) or final."""
        handle = self.temporal.get_workflow_handle(workflow_id)
        try:
            report: DrillReport = await handle.query("report", result_type=DrillReport)
        except RPCError as exc:
            raise NotFound(
                f"no drill run {workflow_id!r}: `hvdr runs --kind drill` lists them ({exc.message})"
            ) from exc
        return report

    async def drill_result(self, workflow_id: str) -> DrillReport:
        """Wait for a drill run to end; its evidence."""
        handle = self.temporal.get_workflow_handle(workflow_id, result_type=DrillReport)
        try:
            report: DrillReport = await handle.result()
        except WorkflowFailureError as exc:
            raise HvdrError(f"{workflow_id} failed: {_root_cause(exc)}") from exc
        return report

    def _drill_handle(self, plan: str) -> ScheduleHandle:
        return self.temporal.get_schedule_handle(drill_schedule_id(plan))

    @contextlib.contextmanager
    def _on_schedule(self, plan: str) -> Iterator[None]:
        """A call on the plan's drill schedule: a missing schedule is NotFound (with how to create one), any other
        refusal TemporalUnavailable."""
        try:
            yield
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise NotFound(
                    f"plan {plan!r} has no drill schedule: `hvdr drill list` lists them, "
                    f'`hvdr drill schedule --plan {plan} --cron "0 3 * * 6"` creates one'
                ) from exc
            raise TemporalUnavailable(f"cannot reach the drill schedule of {plan}: {exc.message}") from exc

    # -- runs -----------------------------------------------------------------------------------------------

    async def runs(
        self, vm: str | None = None, kind: str | None = None, limit: int = 200, types: Sequence[str] | None = None
    ) -> list[RunSummary]:
        """hvdr's runs, newest first (any kind, or one kind; any VM, or one, case-insensitively; any workflow
        type, or those of ``types``)."""
        clauses = [] if kind is None else [f"HvdrKind = '{check_kind(kind)}'"]
        if types is not None:
            clauses.append("WorkflowType IN (" + ", ".join("'" + t.replace("'", "") + "'" for t in types) + ")")
        query = " AND ".join(clauses)
        found: list[RunSummary] = []
        async for execution in self.temporal.list_workflows(query):
            attributes = execution.typed_search_attributes
            named = attributes.get(HVDR_VM)
            if attributes.get(HVDR_KIND) is None:
                continue  # not an hvdr run
            if vm is not None and (named or "").lower() != vm.lower():
                continue
            found.append(
                RunSummary(
                    workflow_id=execution.id,
                    kind=attributes.get(HVDR_KIND),
                    vm=named,
                    site=attributes.get(HVDR_SITE),
                    phase=attributes.get(HVDR_PHASE),
                    status=execution.status.name.lower() if execution.status else "unknown",
                    started_at=execution.start_time,
                    closed_at=execution.close_time,
                )
            )
            if len(found) >= limit:
                break
        return found

    async def show(self, workflow_id: str) -> FailoverReport | TestFailoverReport:
        """A failover run's report: its steps with timings and outcomes, so far or final (an unplanned
        failover's is an ``UnplannedReport``, with its recovery point, fence and data lost; a test failover's a
        ``TestFailoverReport``)."""
        if workflow_id.lower().startswith("testfailover/"):
            return await self.test_failover_report(workflow_id)
        if not workflow_id.lower().startswith(("failover/", "failback/")):
            raise NotFound(
                f"`show` knows failover and failback runs (failover/<vm>, failback/<vm>), not {workflow_id!r}: "
                "`hvdr status` shows protection"
            )
        handle = self.temporal.get_workflow_handle(workflow_id.lower())
        try:
            report: FailoverReport = await handle.query("report", result_type=UnplannedReport)
        except RPCError as exc:
            raise NotFound(f"no run {workflow_id!r}: `hvdr runs` lists them ({exc.message})") from exc
        if report.kind != "unplanned":
            return FailoverReport.model_validate(report.model_dump())
        return report

    # -- approvals ------------------------------------------------------------------------------------------

    async def approve(self, run: str, step: str, *, reason: str | None = None) -> DecisionResult:
        """Approve a manual step a run waits for (``hvdr approve RUN STEP``): the run goes on. The decision
        records this client's identity and the time."""
        return await self._decide_step(run, step, True, reason)

    async def reject(self, run: str, step: str, *, reason: str | None = None) -> DecisionResult:
        """Reject a manual step a run waits for (``hvdr reject RUN STEP``): the step fails, with the reason."""
        return await self._decide_step(run, step, False, reason)

    async def approve_when_waiting(
        self, run: str, step: str, *, reason: str | None = None, timeout: float = 300, poll_s: float = 0.2
    ) -> DecisionResult:
        """Approve ``step`` of ``run`` as soon as the run waits for it (its report says so; a report that cannot
        be read now, e.g. while a worker restarts, is read again). Refused once ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            report: PlanReport | None = None
            with contextlib.suppress(HvdrError, RPCError, WorkflowQueryFailedError):
                report = await self.plan_report(run)
            if report is not None and any(a.name == step and a.outcome == "waiting" for a in report.actions):
                return await self.approve(run, step, reason=reason)
            if report is not None and report.outcome != "running":
                raise Conflict(f"{run} ended ({report.outcome}) without waiting for {step}")
            if time.monotonic() >= deadline:
                raise HvdrError(f"{run} did not wait for {step} within {timeout:.0f} s")
            await asyncio.sleep(poll_s)

    async def _decide_step(self, run: str, step: str, approve: bool, reason: str | None) -> DecisionResult:
        if not step.strip():
            raise ConfigError("name the step to decide (as the plan declares it, e.g. switch-dns)")
        if reason is not None and len(reason) > REASON_MAX:
            raise ConfigError(f"a reason is at most {REASON_MAX} characters (this one has {len(reason)})")
        handle = self.temporal.get_workflow_handle(run)
        try:
            description = await handle.describe()
        except RPCError as exc:
            raise NotFound(f"no run {run!r}: `hvdr runs` lists them") from exc
        if description.status is not WorkflowExecutionStatus.RUNNING:
            ended = description.status.name.lower() if description.status else "closed"
            raise Conflict(f"{run} has ended ({ended}): no step of it waits for a decision any more")
        decision = Decision(step=step, approve=approve, by=self.settings.identity, reason=reason or None)
        try:
            result: DecisionResult = await handle.execute_update(DECIDE_UPDATE, decision, result_type=DecisionResult)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            message = getattr(cause, "message", None) or str(cause)
            if getattr(cause, "type", None) == UNKNOWN_STEP:
                raise NotFound(message) from exc
            if "not found" in message and DECIDE_UPDATE in message:  # the run has no handler: not a plan run
                raise Conflict(f"{run} has no manual steps to approve or reject (plan runs have them)") from exc
            raise Conflict(message) from exc
        except RPCError as exc:
            raise Conflict(f"{run} did not take the decision: {exc.message}") from exc
        return result

    # -- unplanned failover ---------------------------------------------------------------------------------

    async def recovery_points(self, vm: str) -> RecoveryPoints:
        """The recovery points of the VM's replica (oldest first; the last, id ``latest``, is its latest state),
        read on the replica site's worker."""
        status = await self.protection_status(vm)
        request = RecoveryPointsRequest(
            vm=status.vm, replica=Endpoint(site=status.replica_site, host=status.replica_host)
        )
        points: RecoveryPoints = await self.temporal.execute_workflow(
            "RecoveryPoints",
            request,
            id=f"points/{status.vm.lower()}/{uuid.uuid4().hex[:8]}",
            task_queue=WORKFLOW_TASK_QUEUE,
            execution_timeout=timedelta(minutes=5),
            result_type=RecoveryPoints,
        )
        return points

    async def start_unplanned_failover(self, spec: UnplannedSpec) -> str:
        """Start an unplanned failover run (``failover/<vm>``); refused while another failover of the VM runs."""
        workflow_id = failover_workflow_id(spec.vm)
        try:
            await self.temporal.start_workflow(
                "UnplannedFailover",
                args=[spec],
                id=workflow_id,
                task_queue=WORKFLOW_TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=search_attributes("failover", site=spec.source.site, vm=spec.vm, phase="preflight"),
                static_summary=f"unplanned failover of {spec.vm} to {spec.target.host} ({spec.point})",
                result_type=UnplannedReport,
            )
        except WorkflowAlreadyStartedError as exc:
            raise Conflict(
                f"a failover of {spec.vm} is already running ({workflow_id}): wait for it (`hvdr show {workflow_id}`)"
            ) from exc
        return workflow_id

    async def unplanned_report(self, workflow_id: str, *, poll_s: float = 0.2) -> UnplannedReport:
        """The run's report once it waits for commit / cancel or has ended (refused, failed, committed…)."""
        handle = self.temporal.get_workflow_handle(workflow_id, result_type=UnplannedReport)
        while True:
            description = await handle.describe()
            if description.status is not WorkflowExecutionStatus.RUNNING:
                try:
                    result: UnplannedReport = await handle.result()
                    return result
                except WorkflowFailureError as exc:
                    raise HvdrError(f"{workflow_id} failed: {_root_cause(exc)}") from exc
            report: UnplannedReport = await handle.query("report", result_type=UnplannedReport)
            if report.outcome != "running":
                return report
            await asyncio.sleep(poll_s)

    async def unplanned_failover(self, spec: UnplannedSpec) -> UnplannedReport:
        """Fail one VM over to its replica from a recovery point (its primary site lost); returns the report once
        the run waits for :meth:`commit` / :meth:`cancel` (outcome ``waiting``) or has ended (``refused`` when the
        old primary could not be fenced and ``spec.force`` is false; ``committed`` with auto-commit)."""
        return await self.unplanned_report(await self.start_unplanned_failover(spec))

    async def _decide(self, vm: str, update: str) -> UnplannedReport:
        workflow_id = failover_workflow_id(vm)
        handle = self.temporal.get_workflow_handle(workflow_id, result_type=UnplannedReport)
        nothing = f"nothing to {update}: no unplanned failover of {vm} waits for a decision"
        try:
            description = await handle.describe()
        except RPCError as exc:
            raise Conflict(f"{nothing} (`hvdr failover unplanned --vm {vm}` starts one)") from exc
        if description.status is not WorkflowExecutionStatus.RUNNING:
            ended = description.status.name.lower() if description.status else "closed"
            raise Conflict(f"{nothing} ({workflow_id} is {ended})")
        if description.workflow_type != "UnplannedFailover":
            raise Conflict(f"{nothing} ({workflow_id} is a {description.workflow_type} run)")
        try:
            await handle.execute_update(update, result_type=UnplannedReport)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            raise Conflict(getattr(cause, "message", None) or str(cause)) from exc
        return await self.failover_result_unplanned(workflow_id)

    async def failover_result_unplanned(self, workflow_id: str) -> UnplannedReport:
        handle = self.temporal.get_workflow_handle(workflow_id, result_type=UnplannedReport)
        try:
            report: UnplannedReport = await handle.result()
            return report
        except WorkflowFailureError as exc:
            raise HvdrError(f"{workflow_id} failed: {_root_cause(exc)}") from exc

    async def commit(self, vm: str) -> UnplannedReport:
        """Commit the VM's unplanned failover (Complete-VMFailover, irreversible); the run's final report."""
        return await self._decide(vm, "commit")

    async def cancel(self, vm: str) -> UnplannedReport:
        """Cancel the VM's unplanned failover (Stop-VMFailover: the copy is off and a replica again); the run
        ends and another recovery point can be tried with a new run."""
        return await self._decide(vm, "cancel")

    async def reverse(self, vm: str, spec: ReverseSpec | None = None) -> ReverseReport:
        """Once the old primary is back after a committed unplanned failover: ``-AsReplica`` there, ``-Reverse``
        here, the initial replication per the VM's policy; protection then monitors the new direction."""
        spec = spec or await self._reverse_spec(vm)
        workflow_id = reverse_workflow_id(spec.vm)
        try:
            handle = await self.temporal.start_workflow(
                "ReverseReplication",
                spec,
                id=workflow_id,
                task_queue=WORKFLOW_TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=search_attributes("reverse", site=spec.primary.site, vm=spec.vm, phase="as-replica"),
                static_summary=f"reverse replication of {spec.vm}: {spec.primary.host} → {spec.replica.host}",
                result_type=ReverseReport,
            )
        except WorkflowAlreadyStartedError as exc:
            raise Conflict(f"a reverse of {spec.vm} is already running ({workflow_id})") from exc
        try:
            report: ReverseReport = await handle.result()
            return report
        except WorkflowFailureError as exc:
            raise HvdrError(f"{workflow_id} failed: {_root_cause(exc)}") from exc

    async def _reverse_spec(self, vm: str) -> ReverseSpec:
        workflow_id = failover_workflow_id(vm)
        nothing = f"nothing to reverse for {vm}: reverse follows a committed unplanned failover"
        try:
            report = await self.show(workflow_id)
            description = await self.temporal.get_workflow_handle(workflow_id).describe()
        except NotFound as exc:
            raise Conflict(f"{nothing} (there is no failover run {workflow_id})") from exc
        if not isinstance(report, UnplannedReport) or report.outcome != "committed":
            state = "waiting: `hvdr commit` it first" if report.outcome == "waiting" else report.outcome
            raise Conflict(f"{nothing} ({workflow_id}: {report.kind} failover, {state})")
        if description.status is WorkflowExecutionStatus.RUNNING:
            raise Conflict(f"{nothing}: {workflow_id} is still finishing; retry in a moment")
        try:  # the policy the VM is protected with (its protection run holds it)
            state = await self._protection(report.vm).query("details", result_type=ProtectionState)
        except RPCError as exc:
            raise NotFound(f"{report.vm} has no protection run to reverse: {exc.message}") from exc
        copy = state.spec.policy.initial_replication
        scheduled = copy.method == "scheduled"  # an offline policy's copy goes over the network on the way back
        return ReverseSpec(
            vm=report.vm,
            primary=report.target,
            replica=report.source,
            initial_method="scheduled" if scheduled else "network",
            initial_start_time=copy.at if scheduled else None,
        )

    # -- reports --------------------------------------------------------------------------------------------

    async def reports(self, vm: str | None = None, limit: int = 200, kind: str | None = None) -> list[RunSummary]:
        """The runs that have a report (``hvdr report RUN``), newest first (of one VM, of one kind)."""
        return await self.runs(vm=vm, kind=kind, limit=limit, types=sorted(REPORT_SOURCES))

    async def report(self, workflow_id: str) -> RunReport:
        """A run's report, whatever its kind: steps per VM, compensation, approvals, RTO against the plan's target,
        data loss. A completed run's report is read from its history (no worker needed); a running or failed
        one is asked for its report so far. Disk checksums measured at the failover, where hosts report them
        (the lab), are added with :meth:`RunReport.attach_checksums`."""
        handle, description = await self._described(workflow_id)
        source = REPORT_SOURCES.get(description.workflow_type)
        if source is None:
            raise NotFound(
                f"{handle.id} is a {description.workflow_type} run, which has no report: `hvdr report` lists the "
                "runs that have one"
            )
        status = description.status.name.lower() if description.status else "unknown"
        try:
            if description.status is WorkflowExecutionStatus.COMPLETED:
                result = await self.temporal.get_workflow_handle(handle.id, result_type=source.result_type).result()
            else:
                result = await handle.query(
                    source.query, result_type=source.result_type, rpc_timeout=timedelta(seconds=15)
                )
        except (RPCError, WorkflowFailureError) as exc:
            raise HvdrError(
                f"cannot read the report of {handle.id} ({status}): {_root_cause(exc)}; a run that did not complete "
                "is read through a worker: is one running (`hvdr worker`)?"
            ) from exc
        started_by = await description.memo_value(STARTED_BY, default=None, type_hint=str)
        if started_by is None:  # runs started before the memo: Temporal recorded the client identity anyway
            async for event in handle.fetch_history_events():
                started_by = event.workflow_execution_started_event_attributes.identity or None
                break
        report = source.convert(result, RunFacts(status=status, started_by=started_by, generated_at=datetime.now(UTC)))
        target = self._rto_target(report.plan, [v.vm for v in report.vms])
        if target is not None:
            report.rto_target_s, report.rto_target_from = target
        return report

    async def estate(self, check: CheckRequest | None = None) -> EstateReport:
        """The estate report (``hvdr report estate``): every protected VM with its RPO history (its host monitor's
        peaks per 15 min of host time; else its run's own samples), health, last successful drill and readiness
        (the findings of the check ``check`` runs now; None: not checked). See :mod:`hvdr.estate`."""
        from hvdr.estate import RpoPoint, assemble
        from hvdr.inventory.db import session_for
        from hvdr.inventory.readiness import estate_facts

        statuses = await self.protection_statuses()
        histories: dict[str, tuple[str, list[RpoPoint]]] = {}
        unanswered: dict[str, str] = {}

        async def monitor(host: str) -> None:
            handle = self.temporal.get_workflow_handle(monitor_workflow_id(host))
            try:
                series = await handle.query(
                    "rpo_history", result_type=dict[str, RpoSeries], rpc_timeout=timedelta(seconds=30)
                )
            except (RPCError, WorkflowQueryFailedError) as exc:
                # No monitor, or one of the code before the history: the runs' samples below.
                unanswered[host] = f"{handle.id} did not answer ({exc})"
                return
            for vm, peaks in series.items():
                histories[vm] = ("monitor", [RpoPoint(at=at, rpo_s=rpo) for at, rpo in peaks.points()])

        async def run_samples(vm: str) -> None:
            try:
                state = await self._protection(vm).query(
                    "details", result_type=ProtectionState, rpc_timeout=timedelta(seconds=30)
                )
            except (RPCError, WorkflowQueryFailedError) as exc:
                histories[vm.lower()] = (f"nowhere: neither its host's monitor nor its run answered ({exc})", [])
                return
            points = [RpoPoint(at=s.at, rpo_s=s.rpo_s) for s in state.history if s.rpo_s is not None]
            histories[vm.lower()] = (f"protection run ({unanswered.get(state.spec.primary.host.lower(), '')})", points)

        await asyncio.gather(
            *(monitor(h) for h in sorted({s.primary_host.lower() for s in statuses if s.primary_host}))
        )
        await asyncio.gather(*(run_samples(s.vm) for s in statuses if not histories.get(s.vm.lower(), ("", []))[1]))
        with session_for(self.settings) as session:
            thresholds, drills = estate_facts(session, {s.vm: s.policy for s in statuses if s.policy})
        report: CheckReport | None = None
        error: str | None = None
        if check is not None:
            try:
                report = await self.check(check)
            except HvdrError as exc:
                error = str(exc)
        return assemble(statuses, histories, thresholds, drills, report, datetime.now(UTC), check_error=error)

    async def _described(self, workflow_id: str) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription]:
        """A run's handle and description; ids are tried as given, then lower-cased (VM names are case-insensitive)."""
        for candidate in dict.fromkeys((workflow_id, workflow_id.lower())):
            handle = self.temporal.get_workflow_handle(candidate)
            try:
                return handle, await handle.describe()
            except RPCError as exc:
                if exc.status is not RPCStatusCode.NOT_FOUND:
                    raise TemporalUnavailable(f"cannot describe {candidate}: {exc.message}") from exc
        raise NotFound(f"no run {workflow_id!r}: `hvdr report` lists the runs that have a report")

    def _rto_target(self, plan: str | None, vms: list[str]) -> tuple[int, str] | None:
        """The RTO target that applies: the run's plan's, else that of the (first) plan holding its VM."""
        from hvdr.inventory.queries import rto_target

        session_for, _, _ = _inventory()
        with session_for(self.settings) as session:
            return rto_target(session, plan, vms)


def _direction(status: ProtectionStatus) -> tuple[Endpoint, Endpoint]:
    return (
        Endpoint(site=status.primary_site, host=status.primary_host),
        Endpoint(site=status.replica_site, host=status.replica_host),
    )


def _run_number(workflow_id: str) -> int:
    tail = workflow_id.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _keyword(info: WorkflowExecutionInfo, name: str) -> str | None:
    """A Keyword search attribute of a listed run, decoded alone."""
    payload = info.search_attributes.indexed_fields.get(name)
    if payload is None:
        return None
    try:
        value = PayloadConverter.default.from_payloads([payload])[0]
    except Exception:  # not what hvdr wrote: the caller falls back
        return None
    return value if isinstance(value, str) else None


def with_live(status: ProtectionStatus, monitors: dict[str, HostLive]) -> ProtectionStatus:
    """A VM's status with what its host's monitor read last (fresher than the run's, which changes only when
    something needs deciding). Outside monitoring, or with no monitor reading of the VM, the run's own."""
    if status.phase not in MONITORED:
        return status
    live = monitors.get(status.primary_host.lower())
    row = live.rows.get(status.vm.lower()) if live is not None else None
    if live is None or row is None or row.replication_state is None:
        return status
    return status.model_copy(
        update={
            "replication_state": row.replication_state,
            "health": row.health,
            "rpo_s": row.rpo_s,
            "last_replication": row.last_replication,
            "updated_at": live.measured_at,
        }
    )


def with_readiness(status: ProtectionStatus, checks: list[ReadinessAlerts]) -> ProtectionStatus:
    """A VM's status with the findings of the scheduled checks that concern it (the VM, or one of its hosts) as
    alerts of kind ``readiness``: an error is critical. They go when a later run of the check no longer finds them."""
    if not checks:
        return status
    from hvdr.readiness import Severity as FindingSeverity
    from hvdr.readiness import findings_about

    raised = [
        Alert(
            kind=AlertKind.READINESS,
            severity=Severity.CRITICAL if f.severity is FindingSeverity.ERROR else Severity.WARNING,
            message=f"readiness {f.check} ({f.subject}): {f.message}; fix: {f.fix}",
            raised_at=check.checked_at,
        )
        for check in checks
        for f in findings_about(status.vm, [status.primary_host, status.replica_host], check.findings)
    ]
    if not raised:
        return status
    return status.model_copy(update={"open_alerts": [*status.open_alerts, *raised]})


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def resolve_vms(settings: Settings, vms: str | Sequence[str] | None, cloud: str | None) -> list[str]:
    """The VM names a by-name call means (see :meth:`Client.protection_targets`)."""
    if vms and cloud:
        raise ConfigError("name the VMs or a cloud, not both")
    if not vms and not cloud:
        raise ConfigError("name the VMs (vms=[...], --vm NAME) or a cloud (cloud=..., --cloud NAME)")
    names = [vms] if isinstance(vms, str) else list(vms or [])
    session_for, _, vms_to_protect = _inventory()
    with session_for(settings) as session:
        return vms_to_protect(session, names, cloud)


def _failover_inventory() -> tuple[
    Callable[[Settings], AbstractContextManager[Session]],
    Callable[..., FailoverSpec],
    Callable[[Session, str], tuple[str, str | None]],
]:
    """The inventory's session, failover spec and VM home functions, imported when first needed (see
    :func:`_inventory`)."""
    from hvdr.inventory.db import session_for
    from hvdr.inventory.failover import failover_spec, vm_home

    return session_for, failover_spec, vm_home


def _inventory() -> tuple[
    Callable[[Settings], AbstractContextManager[Session]],
    Callable[[Session, list[str], float], list[ProtectionSpec]],
    Callable[[Session, list[str] | None, str | None], list[str]],
]:
    """The inventory's session, spec and target functions, imported when first needed: ``import hvdr`` (which
    every workflow sandbox runs for ``hvdr.protection``) must not load sqlmodel / SQLAlchemy each time."""
    from hvdr.inventory.db import session_for
    from hvdr.inventory.protection import protection_specs, vms_to_protect

    return session_for, protection_specs, vms_to_protect
