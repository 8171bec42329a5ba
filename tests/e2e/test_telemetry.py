"""OpenTelemetry: a discovery started from a traced ``hvdr.Client`` is one trace — the client's start, the
workflow, its activities and the driver's WinRM commands to the lab — and no span carries a script; a planned
failover is one trace with a span per step and the host commands under the steps, and its step durations,
the VM's RPO and health and the SDK's metrics come through the one Temporal runtime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig

from hvdr import telemetry
from hvdr.client import Client
from tests.e2e.conftest import Estate
from tests.e2e.test_failover_lab import _protected, _spec

pytestmark = pytest.mark.slow


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    provider = telemetry.setup()
    assert provider is not None
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # later spans of the session are dropped


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        span = by_id[parent.span_id]
        names.append(span.name)
        parent = span.parent
    return names


async def test_a_discovery_is_one_trace_from_client_to_driver(estate: Estate, spans: InMemorySpanExporter) -> None:
    client = await Client.connect(estate.settings)  # the Client installs Temporal's tracing interceptor
    [found] = await client.discover(["site-a"])
    assert found.vms

    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished if s.context is not None}
    driver = [s for s in finished if s.name.startswith("hyperv ")]
    assert driver, [s.name for s in finished]
    for span in driver:
        attributes = dict(span.attributes or {})
        assert attributes["hvdr.host"] and attributes["hvdr.operation"], attributes
        cmdlets = attributes["hvdr.cmdlets"]
        assert isinstance(cmdlets, tuple) and cmdlets and all("-" in c for c in cmdlets), attributes
        # Never the script itself: no PowerShell plumbing in any attribute.
        assert not any("ConvertTo-Json" in str(v) or "$" in str(v) for v in attributes.values()), attributes
        chain = _ancestors(span, by_id)
        assert chain[:2] == ["RunActivity:discover_site", "StartActivity:discover_site"], chain
        assert chain[-1] == "StartWorkflow:Discovery", chain
    # The workflow's own span is in the same tree, under the client's start (as Temporal's interceptor
    # parents workflow-side spans: the workflow's commands hang off the context the start carried).
    runs = [s for s in finished if s.name == "RunWorkflow:Discovery"]
    assert runs and all(_ancestors(run, by_id) == ["StartWorkflow:Discovery"] for run in runs)
    assert len({s.context.trace_id for s in [*driver, *runs] if s.context is not None}) == 1


@pytest.fixture
async def metrics(estate: Estate) -> AsyncIterator[MetricBuffer]:
    """The estate's workers give way to workers on a traced client whose Temporal runtime keeps its metrics in
    a buffer: the SDK's metrics and hvdr's go through that one runtime."""
    buffer = MetricBuffer(200_000)
    telemetry.use_runtime(Runtime(telemetry=TelemetryConfig(metrics=buffer)))
    try:
        client = await Client.connect(estate.settings)
    finally:
        telemetry.use_runtime(None)
    estate.stop_workers.set()
    await asyncio.gather(estate.workers, return_exceptions=True)
    estate.hosts.close()
    estate.client = client
    await estate.start_workers()
    yield buffer


async def test_a_planned_failover_is_one_trace_with_a_span_per_step_and_its_metrics(
    estate: Estate, spans: InMemorySpanExporter, metrics: MetricBuffer
) -> None:
    await _protected(estate, "web-01")
    report = await estate.client.failover_planned(_spec(estate, "web-01"))
    assert report.outcome == "succeeded", report

    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished if s.context is not None}
    [start] = [s for s in finished if s.name == "StartWorkflow:PlannedFailover"]
    assert start.context is not None
    trace = [s for s in finished if s.context is not None and s.context.trace_id == start.context.trace_id]
    [run] = [s for s in trace if s.name == "RunWorkflow:PlannedFailover"]
    assert run.parent is not None and run.parent.span_id == start.context.span_id
    steps = [s for s in trace if s.name.startswith("step ")]
    # One span per step of the report, in its order, each a child of the run, none repeated.
    assert [s.name for s in sorted(steps, key=lambda s: s.start_time or 0)] == [
        f"step {r.step.value}" for r in report.steps
    ]
    assert all(s.parent is not None and s.parent.span_id == run.context.span_id for s in steps if run.context)
    # Every host command of the run hangs under a step (through its activity), in the same trace.
    driver = [s for s in trace if s.name.startswith("hyperv ")]
    assert driver
    for span in driver:
        chain = _ancestors(span, by_id)
        assert chain[0].startswith("RunActivity:failover_"), chain
        assert any(name.startswith("step ") for name in chain) and chain[-1] == start.name, chain
    host_steps = {chain_step for s in driver for chain_step in _ancestors(s, by_id) if chain_step.startswith("step ")}
    assert {"step shutdown", "step prepare", "step failover", "step start", "step reverse"} <= host_steps
    # No host command of the failover's activities sits outside this trace.
    others = [s for s in finished if s.name.startswith("RunActivity:failover_") and s not in trace]
    assert not others, [s.name for s in others]

    updates = metrics.retrieve_updates()
    durations = {
        (dict(u.attributes)["step"], dict(u.attributes)["outcome"])
        for u in updates
        if u.metric.name == telemetry.STEP_DURATION and dict(u.attributes).get("workflow") == "PlannedFailover"
    }
    assert durations == {(r.step.value, "done") for r in report.steps}, durations
    rpo = [u for u in updates if u.metric.name == telemetry.RPO and dict(u.attributes).get("vm") == "web-01"]
    assert rpo and all(isinstance(u.value, float) and u.value >= 0 for u in rpo)
    health = [u for u in updates if u.metric.name == telemetry.HEALTH and dict(u.attributes).get("vm") == "web-01"]
    assert health and health[-1].value == 0  # Normal
    # The SDK's own metrics come through the same runtime.
    assert any(u.metric.name.startswith("temporal_") for u in updates), {u.metric.name for u in updates}
