"""OpenTelemetry's home in hvdr: one tracer provider and one meter provider per process, and Temporal's
tracing interceptor for the client and the worker, so a run's trace holds the client's start, the workflow,
its activities and the driver's host commands (``hvdr.hyperv`` spans: host, operation, cmdlets) in one tree.

Nothing leaves the process unless configured: set ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the other standard
``OTEL_*`` variables) and install the OTLP exporter, ``pip install opentelemetry-exporter-otlp-proto-http``.
Without the package the endpoint is ignored with one warning that says so. An application that has set up
OpenTelemetry itself keeps its own providers: hvdr only adds spans to them.
"""

from __future__ import annotations

import logging
import os
import threading

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from temporalio.contrib.opentelemetry import TracingInterceptor

log = logging.getLogger(__name__)

OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTLP_PACKAGE = "opentelemetry-exporter-otlp-proto-http"

_lock = threading.Lock()
_tracer_provider: TracerProvider | None = None


def _otlp_exporters() -> tuple[SpanExporter, MetricReader] | None:
    """The OTLP span exporter and metric reader when an endpoint is configured and the package installed."""
    if not os.environ.get(OTLP_ENDPOINT):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[import-not-found]
            OTLPMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter,
        )
    except ImportError:
        log.warning(
            "%s is set but the OTLP exporter is not installed (pip install %s): hvdr's traces and metrics are "
            "not exported",
            OTLP_ENDPOINT,
            OTLP_PACKAGE,
        )
        return None
    return OTLPSpanExporter(), PeriodicExportingMetricReader(OTLPMetricExporter())


def setup(service_name: str = "hvdr") -> TracerProvider | None:
    """Install hvdr's tracer and meter providers once per process (later calls return the same one).

    Returns the SDK tracer provider hvdr's spans go to, or None when the application installed a provider
    of another kind (hvdr's spans then go to it)."""
    global _tracer_provider
    with _lock:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            _tracer_provider = current  # ours from an earlier call, or the application's own
            return current
        if _tracer_provider is None and type(current).__name__ == "ProxyTracerProvider":
            resource = Resource.create({"service.name": service_name})
            provider = TracerProvider(resource=resource)
            readers: list[MetricReader] = []
            otlp = _otlp_exporters()
            if otlp is not None:
                spans, reader = otlp
                provider.add_span_processor(BatchSpanProcessor(spans))
                readers.append(reader)
            trace.set_tracer_provider(provider)
            metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
            _tracer_provider = provider
        return _tracer_provider


def tracing_interceptor() -> TracingInterceptor:
    """Temporal's interceptor that puts client calls, workflows and activities into the current trace.

    It is both a client and a worker interceptor: a worker built on a client that has it traces as well."""
    setup()
    return TracingInterceptor(tracer=trace.get_tracer("hvdr"))
