"""No secret of the estate ends up where it must not: after a protect, a planned failover and a readiness check
(through the API and the CLI, with the payload codec on and hvdr's loggers at DEBUG), the histories of every
workflow on the session's Temporal server, the logs, the CLI's output, the reports and every file left in the
hvdr home hold neither the lab's passwords nor a codec key. It runs last, so the histories of every earlier
test on the session's server are scanned too."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from hvdr.cli.main import app
from hvdr.client import Client
from hvdr.codec import data_converter
from hvdr.inventory.db import session_for
from hvdr.inventory.readiness import check_request
from hvdr.lab.control import token_path
from hvdr.settings import load_settings
from hvdr.topology import default_topology
from tests.e2e.conftest import Estate
from tests.e2e.test_failover_lab import _protected, _spec
from tests.secret_scan import file_sources, find_leaks, history_sources
from tests.test_codec import KEY_1, KEY_2

pytestmark = [pytest.mark.slow, pytest.mark.scan_last]

PASSWORD = "Sc4n-Me-If-You-Can-91d"
KEY = base64.b64encode(b"scan-key-" + b"x" * 23).decode()
DEFAULT_PASSWORD = default_topology().lab.credentials["lab-admin"].password


@pytest.fixture
async def with_codec(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Estate]:
    """The estate's workers give way to workers on a client with the payload codec on."""
    monkeypatch.setenv("HVDR_CODEC_KEYS", f"scan:{KEY}")
    estate.settings = load_settings()
    client = await Client.connect(estate.settings)
    estate.stop_workers.set()
    await asyncio.gather(estate.workers, return_exceptions=True)
    estate.hosts.close()
    estate.client = client
    await estate.start_workers()
    yield estate


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """Every logger of the process (Temporal's SDK, the WinRM stack, …) at INFO and hvdr's at DEBUG into a file
    (the SDK's DEBUG dumps every activation, slowing workflow tasks past their timeout)."""
    path = tmp_path / "home" / "logs" / "worker.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root, ours = logging.getLogger(), logging.getLogger("hvdr")
    levels = root.level, ours.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    ours.setLevel(logging.DEBUG)
    yield path
    root.removeHandler(handler)
    root.setLevel(levels[0])
    ours.setLevel(levels[1])
    handler.close()


@pytest.mark.parametrize("estate", [{"password": PASSWORD}], indirect=True)
async def test_no_history_log_or_report_holds_a_password_or_a_codec_key(
    env: WorkflowEnvironment, with_codec: Estate, debug_log: Path, tmp_path: Path
) -> None:
    estate = with_codec
    assert PASSWORD in estate.settings.lab_endpoints.read_text(), "the lab serves the password under test"
    vm = "web-02"
    await _protected(estate, vm)
    report = await estate.client.failover_planned(_spec(estate, vm))
    assert report.outcome == "succeeded", report
    with session_for(estate.settings) as session:
        request = check_request(session, "secret-scan", cloud="cloud-a")
    checked = await estate.client.check(request)
    reports = tmp_path / "home" / "reports"
    reports.mkdir()
    (reports / "failover.json").write_text(report.model_dump_json(indent=2))
    (reports / "check.json").write_text(checked.model_dump_json(indent=2))
    cli_env = {
        "HVDR_HOME": str(tmp_path / "home"),
        "HVDR_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "HVDR_LAB": "1",
        "HVDR_CODEC_KEYS": f"scan:{KEY}",
        "HVDR_DEBUG": "1",
    }
    outputs = []
    for args in (("show", report.workflow_id, "-o", "json"), ("check", "--cloud", "cloud-a", "-o", "json")):
        # In process (a subprocess costs seconds of imports), on a thread: the loop runs the workers meanwhile.
        result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=cli_env)
        assert result.exit_code in (0, 10), result.output  # 10: the check found what a failover would hit
        outputs.append((f"hvdr {' '.join(args)}", result.output.encode()))
    assert json.loads(outputs[0][1].decode())["outcome"] == "succeeded"

    converter = data_converter(
        load_settings({"HVDR_HOME": str(tmp_path), "HVDR_CODEC_KEYS": f"scan:{KEY},k1:{KEY_1},k2:{KEY_2}"})
    )
    histories = await history_sources(env.client, converter)
    assert any(report.workflow_id in where for where, _ in histories), "this test's runs are among them"
    endpoints = estate.settings.lab_endpoints
    files = file_sources(tmp_path, skip=[endpoints, token_path(endpoints)])
    assert any(where == str(debug_log) and data for where, data in files), "the log was written"
    leaks = find_leaks([*histories, *files, *outputs], [PASSWORD, DEFAULT_PASSWORD, KEY, KEY_1, KEY_2])
    assert not leaks, "\n".join(map(str, leaks[:20]))
