"""OpenTelemetry: a discovery started from a traced ``hvdr.Client`` is one trace — the client's start, the
workflow, its activities and the driver's WinRM commands to the lab — and no span carries a script."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hvdr import telemetry
from hvdr.client import Client
from tests.e2e.conftest import Estate

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
