"""Telemetry exports nowhere unless configured, and says so when the endpoint is set without the exporter."""

from __future__ import annotations

import importlib.util
import logging

import pytest

from hvdr import telemetry
from hvdr.hyperv import scripts
from hvdr.hyperv.host import cmdlets


def test_no_endpoint_means_no_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(telemetry.OTLP_ENDPOINT, raising=False)
    assert telemetry._otlp_exporters() is None


def _exporter_installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.skipif(_exporter_installed(), reason="the OTLP exporter is installed here")
def test_an_endpoint_without_the_exporter_package_is_a_clear_note(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(telemetry.OTLP_ENDPOINT, "http://127.0.0.1:4318")
    with caplog.at_level(logging.WARNING, logger="hvdr.telemetry"):
        assert telemetry._otlp_exporters() is None
    assert telemetry.OTLP_PACKAGE in caplog.text and "not exported" in caplog.text


def test_driver_spans_name_the_cmdlets_not_the_script() -> None:
    assert cmdlets(scripts.suspend_replication("db-01")) == ["Suspend-VMReplication", "Get-VMReplication"]
    assert cmdlets(scripts.get_vm("Get-Secret")) == ["Get-VM"], "a quoted name is not a cmdlet"
