"""OpenTelemetry's home in hvdr: one tracer provider, one meter provider and one Temporal runtime per process.

Traces: Temporal's OpenTelemetry interceptor on the client and the workers, so a run's trace holds the
client's start, the workflow, a span per workflow step (:func:`hvdr.workflows.kit.step`), each step's
activities and the driver's host commands (``hyperv <operation>`` spans: host, operation, cmdlets) in one tree.
The tracer provider is Temporal's replay-safe one (:func:`create_tracer_provider`): span ids made inside a
workflow are deterministic and nothing is emitted twice when a worker replays a history, so a step that a
killed worker began is ended, in the same trace, by the worker that finishes it.

Metrics: hvdr records its own (:data:`RPO`, :data:`HEALTH`, :data:`STEP_DURATION`, :data:`RETRIES`,
:data:`DRILLS`) through Temporal's metric meters, so they travel with the SDK's own metrics (task latencies,
poller counts, …) through the one :func:`runtime` every client and worker of the process uses.

Nothing leaves the process unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (with the other standard ``OTEL_*``
variables): then spans go there over OTLP/HTTP (``/v1/traces``) and the runtime's metrics over OTLP/HTTP
(``/v1/metrics``). An application that has set up OpenTelemetry itself keeps its own tracer provider: hvdr
then adds its spans to it with Temporal's older interceptor (no workflow step spans, which need replay safety).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio import activity
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.contrib.opentelemetry import (
    OpenTelemetryInterceptor,
    ReplaySafeTracerProvider,
    TracingInterceptor,
    create_tracer_provider,
)
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    OpenTelemetryConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput
from temporalio.worker import Interceptor as WorkerInterceptor

from hvdr.replication import ReplicationHealth

log = logging.getLogger(__name__)
# A workflow's step span is a context manager in the run's coroutine; when the worker evicts a run from its cache
# (or the process ends) the garbage collector closes it in another context and OpenTelemetry logs "Failed to
# detach context" with a traceback. The span has ended either way; what is left is noise on an operator's terminal.
logging.getLogger("opentelemetry.context").setLevel(logging.CRITICAL)

OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE = "hvdr"

RPO = "hvdr_vm_rpo_seconds"
"""Gauge per VM (``vm``, ``site``): the protection run's current RPO, host seconds since the last replication."""
HEALTH = "hvdr_vm_replication_health"
"""Gauge per VM (``vm``, ``site``): 0 Normal, 1 Warning, 2 Critical (Hyper-V's replication health)."""
STEP_DURATION = "hvdr_step_duration_seconds"
"""Histogram (``workflow``, ``step``, ``outcome``): how long each workflow step took, in workflow time."""
RETRIES = "hvdr_activity_retries"
"""Counter (``activity``): activity attempts after the first (a host that did not answer, a worker that died)."""
DRILLS = "hvdr_drill_outcomes"
"""Counter (``plan``, ``outcome``): finished drills (:func:`hvdr.workflows.kit.drill_outcome`)."""
READINESS = "hvdr_readiness_findings"
"""Gauge (``scope``, ``severity``): the findings of the last scheduled readiness check of a scope (0 when ready)."""
HEALTH_VALUES = {ReplicationHealth.NORMAL: 0, ReplicationHealth.WARNING: 1, ReplicationHealth.CRITICAL: 2}

_lock = threading.Lock()
_tracer_provider: TracerProvider | ReplaySafeTracerProvider | None = None
_runtime: Runtime | None = None


def _endpoint(signal: str) -> str | None:
    """The OTLP/HTTP URL of ``signal`` (traces, metrics): ``OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`` as given, else
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` with ``/v1/<signal>`` (the OTLP specification's rule)."""
    specific = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    if specific:
        return specific
    base = os.environ.get(OTLP_ENDPOINT)
    return f"{base.rstrip('/')}/v1/{signal}" if base else None


def _otlp_headers() -> dict[str, str]:
    raw = os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", "")
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


def setup(service_name: str = SERVICE) -> TracerProvider | ReplaySafeTracerProvider | None:
    """Install hvdr's tracer and meter providers once per process (later calls return the same one).

    Returns the provider hvdr's spans go to (Temporal's replay-safe one unless the application installed an
    SDK provider of its own), or None when the application installed a provider of another kind."""
    global _tracer_provider
    with _lock:
        current = trace.get_tracer_provider()
        if isinstance(current, ReplaySafeTracerProvider | TracerProvider):
            _tracer_provider = current  # ours from an earlier call, or the application's own
            return current
        if _tracer_provider is None and type(current).__name__ == "ProxyTracerProvider":
            resource = Resource.create({"service.name": service_name})
            provider = create_tracer_provider(resource=resource)
            spans = _endpoint("traces")
            if spans:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=spans)))
            trace.set_tracer_provider(provider)
            metrics.set_meter_provider(MeterProvider(resource=resource))
            _tracer_provider = provider
        return _tracer_provider


def replay_safe() -> bool:
    """hvdr's spans go to Temporal's replay-safe provider, so workflow code may open spans."""
    # Asked once per step of every VM of a plan: without a provider set, get_tracer_provider() reads the
    # environment on each call, which the workflow sandbox makes slow.
    return _tracer_provider is not None and isinstance(trace.get_tracer_provider(), ReplaySafeTracerProvider)


def runtime() -> Runtime:
    """The process's Temporal runtime: the SDK's and hvdr's metrics, exported over OTLP/HTTP when configured.

    Every client hvdr connects uses it (and every worker built on such a client)."""
    global _runtime
    with _lock:
        if _runtime is None:
            url = _endpoint("metrics")
            config = (
                None
                if url is None
                else OpenTelemetryConfig(url=url, headers=_otlp_headers(), http=True, durations_as_seconds=True)
            )
            _runtime = Runtime(
                telemetry=TelemetryConfig(
                    logging=_core_logging(), metrics=config, global_tags={"service_name": SERVICE}
                )
            )
        return _runtime


CORE_LOGGER = "temporalio.core"
"""The Python logger that the SDK core's own warnings go to (its default writes coloured lines to stderr)."""


class _Expected(logging.Filter):
    """Drops the core's warning about a task whose run was terminated while a worker held it: an operator's
    terminate (or `hvdr demo` clearing old runs) causes it, and nothing is wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Task not found when completing" not in record.getMessage()


def _core_logging() -> LoggingConfig:
    logger = logging.getLogger(CORE_LOGGER)
    if not any(isinstance(f, _Expected) for f in logger.filters):
        logger.addFilter(_Expected())
    return LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logger, append_target_to_name=False),
    )


def use_runtime(replacement: Runtime | None) -> None:
    """Make ``replacement`` the runtime later clients use (an application's, or a test's metric buffer);
    None goes back to the default rule."""
    global _runtime
    with _lock:
        _runtime = replacement


class _RetryCounter(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.attempt > 1:
            counter = activity.metric_meter().create_counter(RETRIES, "activity attempts after the first")
            counter.add(1, {"activity": info.activity_type})
        return await self.next.execute_activity(input)


class RetryMetrics(ClientInterceptor, WorkerInterceptor):
    """Counts activity retries (:data:`RETRIES`); a client interceptor too, so workers built on the client get it."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _RetryCounter(next)


def tracing_interceptor() -> OpenTelemetryInterceptor | TracingInterceptor:
    """Temporal's interceptor that puts client calls, workflows, their steps and activities into the trace.

    It is both a client and a worker interceptor: a worker built on a client that has it traces as well."""
    setup()
    if replay_safe():
        return OpenTelemetryInterceptor(add_temporal_spans=True)
    return TracingInterceptor(tracer=trace.get_tracer(SERVICE))


def interceptors() -> list[ClientInterceptor]:
    """What every hvdr client carries: tracing and the retry counter."""
    return [tracing_interceptor(), RetryMetrics()]
