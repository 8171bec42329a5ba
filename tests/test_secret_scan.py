"""The secret scanner finds a deliberate leak wherever it hides — a history's input (clear or behind the codec),
a log line, a base64 header, a PowerShell -EncodedCommand, a file — and stays quiet on a clean run's text."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path

from temporalio.client import Client as TemporalClient
from temporalio.testing import WorkflowEnvironment

from hvdr.codec import data_converter
from hvdr.settings import load_settings
from tests.secret_scan import file_sources, find_leaks, history_sources

PASSWORD = "Leak-Me-7c1f!x"
KEY = base64.b64encode(b"k" * 32).decode()


def test_the_scanner_finds_a_password_in_every_form_a_leak_takes() -> None:
    utf16 = base64.b64encode(f"Get-VM -Credential {PASSWORD}".encode("utf-16-le"))
    basic = base64.b64encode(f"lab\\hvdr:{PASSWORD}".encode())
    sources = [
        ("worker.log", f"2026-12-02 INFO connecting as lab\\hvdr with {PASSWORD}\n".encode()),
        ("report.json", ('{"detail": "' + PASSWORD + '"}').encode()),
        ("wire.log", b"Authorization: Basic " + basic),
        ("command.log", b"powershell -EncodedCommand " + utf16),
        ("clean.log", b"step prepare done on hv-a1.site-a.lab.local; hvdr-lab-tls-x/ca.pem"),
    ]
    leaks = find_leaks(sources, [PASSWORD, "hvdr-lab"])
    assert {leak.where for leak in leaks} == {"worker.log", "report.json", "wire.log", "command.log"}, leaks


def test_files_are_scanned_except_the_stores_where_secrets_belong(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "hvdr.log").write_text(f"error: WinRM refused {PASSWORD}\n")
    (tmp_path / "lab-endpoints.json").write_text(f'{{"password": "{PASSWORD}"}}')
    sources = file_sources(tmp_path, skip=[tmp_path / "lab-endpoints.json"])
    assert [leak.where for leak in find_leaks(sources, [PASSWORD])] == [str(tmp_path / "logs" / "hvdr.log")]


async def test_a_password_in_a_history_is_found_in_clear_and_behind_the_codec(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    plain = env.client
    codec = data_converter(load_settings({"HVDR_HOME": str(tmp_path), "HVDR_CODEC_KEYS": f"k1:{KEY}"}))
    encrypted = await TemporalClient.connect(
        plain.service_client.config.target_host, namespace=plain.namespace, data_converter=codec
    )
    marker = uuid.uuid4().hex
    ids: list[str] = []
    for client in (plain, encrypted):
        workflow_id = f"leak-{marker}-{len(ids)}"
        # No worker runs it: the start alone writes the argument into the history.
        await client.start_workflow("Leaky", {"password": PASSWORD}, id=workflow_id, task_queue=f"none-{marker}")
        ids.append(workflow_id)
    try:
        query = f"WorkflowId STARTS_WITH 'leak-{marker}'"
        for _ in range(50):  # visibility lists a start a moment after it
            if len([run async for run in plain.list_workflows(query)]) == len(ids):
                break
            await asyncio.sleep(0.1)
        sources = await history_sources(plain, codec, query=query)
        leaks = find_leaks(sources, [PASSWORD, KEY])
        assert {leak.where.split(" (")[0] for leak in leaks} == {f"history of {i}" for i in ids}, leaks
        assert all(leak.secret == PASSWORD for leak in leaks), "the codec key is never in a history"
        # Without the key the encrypted history shows nothing: the codec's run is found only when decoded.
        raw = await history_sources(plain, None, query=query)
        assert {leak.where.split(" (")[0] for leak in find_leaks(raw, [PASSWORD])} == {f"history of {ids[0]}"}
    finally:
        for workflow_id in ids:
            await plain.get_workflow_handle(workflow_id).terminate("scanned")
