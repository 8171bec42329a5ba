"""Telemetry exports nowhere unless configured; configured, a process's spans and the Temporal runtime's metrics
(the SDK's and hvdr's) reach an OTLP/HTTP collector."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hvdr import telemetry
from hvdr.hyperv import scripts
from hvdr.hyperv.host import cmdlets


def test_no_endpoint_means_no_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (telemetry.OTLP_ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert telemetry._endpoint("traces") is None and telemetry._endpoint("metrics") is None


def test_endpoints_follow_the_otlp_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(telemetry.OTLP_ENDPOINT, "http://collector:4318/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:9000/ingest")
    assert telemetry._endpoint("traces") == "http://collector:4318/v1/traces"
    assert telemetry._endpoint("metrics") == "http://metrics:9000/ingest"


class _Collector(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[str]]]:
    _Collector.paths = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Collector.paths
    server.shutdown()
    server.server_close()


EXPORTING = """
import os, time
from opentelemetry import trace
from hvdr import telemetry
provider = telemetry.setup()
with trace.get_tracer("test").start_as_current_span("step preflight"):
    pass
provider.force_flush()
meter = telemetry.runtime().metric_meter
meter.create_counter(telemetry.RETRIES).add(1, {"activity": "failover_prepare"})
time.sleep(2.5)  # the runtime exports its metrics every second
os._exit(0)
"""


def test_an_endpoint_exports_spans_and_runtime_metrics_over_otlp_http(collector: tuple[str, list[str]]) -> None:
    url, paths = collector
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", EXPORTING], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "/v1/traces" in paths, paths
    assert "/v1/metrics" in paths, (paths, done.stderr)


def test_driver_spans_name_the_cmdlets_not_the_script() -> None:
    assert cmdlets(scripts.suspend_replication("db-01")) == ["Suspend-VMReplication", "Get-VMReplication"]
    assert cmdlets(scripts.get_vm("Get-Secret")) == ["Get-VM"], "a quoted name is not a cmdlet"


def test_core_warnings_reach_python_logging_without_the_terminate_noise(caplog: pytest.LogCaptureFixture) -> None:
    telemetry.use_runtime(None)
    try:
        runtime = telemetry.runtime()
        assert runtime is telemetry.runtime()  # one runtime per process
    finally:
        telemetry.use_runtime(None)
    core = logging.getLogger(telemetry.CORE_LOGGER)
    with caplog.at_level(logging.WARNING, logger=telemetry.CORE_LOGGER):
        core.warning("Task not found when completing: workflow execution already completed")
        core.warning("Error polling for workflow tasks: connection refused")
    assert [r.getMessage() for r in caplog.records] == ["Error polling for workflow tasks: connection refused"]
