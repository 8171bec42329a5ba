"""The payload codec: with keys set, Temporal's history holds no VM or host name in clear, and the codec
server (the web UI's path) gives them back to whoever holds the key."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client as TemporalClient
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from hvdr.client import Client
from hvdr.codec import ENCODING, KEY_ID, AesGcmCodec, data_converter, load_codec, parse_keys
from hvdr.errors import CodecKeyError, ConfigError
from hvdr.protection import Endpoint, Phase, ProtectionSpec, protection_workflow_id
from hvdr.runtime.codec_server import codec_app
from hvdr.settings import WORKFLOW_TASK_QUEUE, Settings, load_settings
from hvdr.topology import ReplicationPolicy
from hvdr.worker.run import run_workers
from tests.secret_scan import find_leaks
from tests.workflows.lab_hosts import LabHosts, lab_topology, site_workers

KEY_1 = base64.b64encode(b"1" * 32).decode()
KEY_2 = base64.b64encode(b"2" * 32).decode()
VM = "payroll-db-7f3a"
HOST = "hv-secret-a1.corp.example"
REPLICA_HOST = "hv-secret-b1.corp.example"


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_a_payload_round_trips_and_its_key_id_travels_in_the_metadata() -> None:
    codec = AesGcmCodec(parse_keys(f"k1:{KEY_1}", "test"))
    [sealed] = await codec.encode([_payload(HOST)])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"k1"
    assert HOST.encode() not in sealed.SerializeToString()
    assert (await codec.decode([sealed]))[0] == _payload(HOST)


async def test_rotation_encrypts_with_the_new_key_and_still_reads_the_old() -> None:
    old = AesGcmCodec(parse_keys(f"k1:{KEY_1}", "test"))
    [written_before] = await old.encode([_payload(VM)])
    rotated = AesGcmCodec(parse_keys(f"k2:{KEY_2}\nk1:{KEY_1}", "test"))
    [written_after] = await rotated.encode([_payload(VM)])
    assert written_after.metadata[KEY_ID] == b"k2"
    assert await rotated.decode([written_before, written_after]) == [_payload(VM), _payload(VM)]


async def test_an_unknown_key_id_or_a_wrong_key_is_a_clear_error() -> None:
    [sealed] = await AesGcmCodec({"k1": b"1" * 32}).encode([_payload(VM)])
    with pytest.raises(CodecKeyError, match=r"codec key id 'k1', which is not configured \(known: k2\)"):
        await AesGcmCodec({"k2": b"2" * 32}).decode([sealed])
    with pytest.raises(CodecKeyError, match=r"key id 'k1' does not decrypt with the key configured under that id"):
        await AesGcmCodec({"k1": b"2" * 32}).decode([sealed])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("k1", "expected ID:BASE64KEY"),
        ("k1:not base64!", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "is 5 bytes; AES-GCM needs 16, 24 or 32"),
        (f"k1:{KEY_1},k1:{KEY_2}", "appears twice"),
    ],
)
def test_bad_keys_are_refused_naming_the_source(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"HVDR_CODEC_KEYS: .*{message}"):
        parse_keys(text, "HVDR_CODEC_KEYS")


def test_keys_come_from_the_environment_or_a_file(hvdr_home: Path, tmp_path: Path) -> None:
    assert load_codec(load_settings({"HVDR_HOME": str(hvdr_home)}).codec) is None
    key_file = tmp_path / "codec.keys"
    key_file.write_text(f"# current first\nk2:{KEY_2}\nk1:{KEY_1}\n", encoding="utf-8")
    codec = load_codec(load_settings({"HVDR_HOME": str(hvdr_home), "HVDR_CODEC_KEY_FILE": str(key_file)}).codec)
    assert codec is not None and codec.current == "k2" and codec.key_ids == ["k2", "k1"]
    missing = {"HVDR_HOME": str(hvdr_home), "HVDR_CODEC_KEY_FILE": str(tmp_path / "nope")}
    with pytest.raises(ConfigError, match="cannot read the codec key file"):
        load_codec(load_settings(missing).codec)


async def test_failure_messages_and_stack_traces_are_encrypted_too(hvdr_home: Path) -> None:
    plain = data_converter(load_settings({"HVDR_HOME": str(hvdr_home)}))
    # No key: failures and every payload under the compression threshold are exactly what the SDK writes.
    assert plain.failure_converter_class is pydantic_data_converter.failure_converter_class
    assert await plain.encode([VM, {"host": HOST}]) == await pydantic_data_converter.encode([VM, {"host": HOST}])
    converter = data_converter(load_settings({"HVDR_HOME": str(hvdr_home), "HVDR_CODEC_KEYS": f"k1:{KEY_1}"}))
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"cannot reach {HOST} over WinRM"), failure)
    assert HOST.encode() not in failure.SerializeToString()
    assert HOST in str(await converter.decode_failure(failure))


async def test_a_plan_report_over_temporals_2_mb_limit_travels_compressed_and_round_trips(hvdr_home: Path) -> None:
    # A timeline bar per VM step: the bars alone of 1,600 VMs; a 1,000-VM plan's whole report measured 2.24 MB.
    report = {
        "timeline": [
            {
                "lane": f"web-{vm:04d}",
                "step": step,
                "started_at": f"2026-12-02T06:{vm % 60:02d}:00.123456Z",
                "ended_at": f"2026-12-02T06:{vm % 60:02d}:07.654321Z",
                "outcome": "done",
                "detail": f"on hv-b{vm % 4 + 1}.site-b.lab.local",
            }
            for vm in range(1600)
            for step in ("preflight", "shutdown", "prepare", "failover", "connect", "start", "verify", "reverse")
        ]
    }
    raw = await pydantic_data_converter.encode([report])
    assert raw[0].ByteSize() > 2 * 1024 * 1024
    for env in ({}, {"HVDR_CODEC_KEYS": f"k1:{KEY_1}"}):
        converter = data_converter(load_settings({"HVDR_HOME": str(hvdr_home), **env}))
        [encoded] = await converter.encode([report])
        assert encoded.ByteSize() < 512 * 1024
        assert b"web-1599" not in encoded.SerializeToString()
        assert await converter.decode([encoded], [dict]) == [report]


# -- the codec server (the web UI's path) --------------------------------------------------------------------


@pytest.fixture
async def codec_server() -> AsyncIterator[TestClient[aiohttp.web.Request, aiohttp.web.Application]]:
    codec = AesGcmCodec({"k1": b"1" * 32})
    app = codec_app(codec, cors_origins=["http://127.0.0.1:8233"], auth_token="s3cret")
    async with TestClient(TestServer(app)) as client:
        yield client


def _body(payloads: list[Payload]) -> dict[str, object]:
    return json_format.MessageToDict(Payloads(payloads=payloads))


def _payloads(body: dict[str, object]) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


async def test_the_codec_server_encodes_and_decodes_for_the_web_ui(
    codec_server: TestClient[aiohttp.web.Request, aiohttp.web.Application],
) -> None:
    auth = {"Authorization": "Bearer s3cret", "Origin": "http://127.0.0.1:8233", "X-Namespace": "default"}
    encoded = await codec_server.post("/encode", json=_body([_payload(HOST)]), headers=auth)
    assert encoded.status == 200
    sealed = _payloads(await encoded.json())
    assert sealed[0].metadata["encoding"] == ENCODING
    decoded = await codec_server.post("/default/decode", json=_body(sealed), headers=auth)
    assert decoded.status == 200
    assert decoded.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8233"
    assert _payloads(await decoded.json()) == [_payload(HOST)]


async def test_the_codec_server_answers_the_browsers_preflight_and_checks_the_token(
    codec_server: TestClient[aiohttp.web.Request, aiohttp.web.Application],
) -> None:
    preflight = await codec_server.options("/decode", headers={"Origin": "http://127.0.0.1:8233"})
    assert preflight.status == 204
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    other = await codec_server.options("/decode", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    refused = await codec_server.post("/decode", json=_body([]), headers={"Authorization": "Bearer guess"})
    assert refused.status == 401
    bad = await codec_server.post("/decode", data="not json", headers={"Authorization": "Bearer s3cret"})
    assert bad.status == 400 and "payloads" in (await bad.json())["error"]


CODEC_TOKEN = "Codec-Token-Not-For-Logs-5e1"


def _post(url: str, body: bytes, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_codec_servers_output_holds_neither_its_keys_nor_its_token(tmp_path: Path) -> None:
    """`hvdr codec-server` as an operator runs it (HVDR_DEBUG on): what it prints while it encodes, decodes and
    refuses a wrong token or a bad body holds no key and no token (the secret scan of its log)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HVDR_")},
        "HVDR_HOME": str(tmp_path),
        "HVDR_CODEC_KEYS": f"k1:{KEY_1},k2:{KEY_2}",
        "HVDR_CODEC_AUTH_TOKEN": CODEC_TOKEN,
        "HVDR_DEBUG": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-c", "from hvdr.cli.main import main; main()", "codec-server", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120  # its imports take seconds, more on a loaded machine
        while True:
            try:
                status, sealed = _post(url + "/encode", json.dumps(_body([_payload(HOST)])).encode(), CODEC_TOKEN)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the codec server did not start"
                time.sleep(0.2)
        assert status == 200
        status, opened = _post(url + "/decode", sealed, CODEC_TOKEN)
        assert status == 200 and _payloads(json.loads(opened)) == [_payload(HOST)]
        assert _post(url + "/decode", sealed, "guess")[0] == 401
        assert _post(url + "/decode", b"not json", CODEC_TOKEN)[0] == 400
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert b"Codec server on" in output
    leaks = find_leaks([("hvdr codec-server output", output)], [KEY_1, KEY_2, CODEC_TOKEN])
    assert not leaks, "\n".join(map(str, leaks))


# -- a real run on the dev server -----------------------------------------------------------------------------


@pytest.fixture
def codec_settings(settings_for: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("HVDR_CODEC_KEYS", f"k1:{KEY_1}")
    yield load_settings()


def _spec() -> ProtectionSpec:
    return ProtectionSpec(
        vm=VM,
        primary=Endpoint(site="site-a", host=HOST),
        replica=Endpoint(site="site-b", host=REPLICA_HOST),
        policy=ReplicationPolicy(name="p", copy_frequency_s=30, rpo_alert_threshold_s=900),  # type: ignore[arg-type]
    )


def _all_payloads(message: Message) -> Iterator[Payload]:
    """Every Payload inside a protobuf message, however deep (memos, inputs, results, failures), headers aside."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None or field.name == "header":
            # Headers carry only the tracing interceptor's W3C ids (traceparent); Temporal applies no codec to
            # them unless asked, and they hold nothing of the estate (the name checks below still cover them).
            continue
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        else:
            items = list(value) if field.is_repeated else [value]
        for item in items:
            if isinstance(item, Message):
                yield from _all_payloads(item)


async def test_with_the_codec_on_the_history_holds_no_vm_or_host_name_in_clear(
    env: WorkflowEnvironment, codec_settings: Settings
) -> None:
    hvdr = await Client.connect(codec_settings)
    vm = f"{VM}-{uuid.uuid4().hex[:6]}"
    lab = LabHosts(lab_topology([vm], primary_host=HOST, replica_host=REPLICA_HOST))
    workers = site_workers(hvdr.temporal, WORKFLOW_TASK_QUEUE, lab)
    spec = _spec().model_copy(update={"vm": vm})
    handle = hvdr.temporal.get_workflow_handle(protection_workflow_id(vm))
    stop = asyncio.Event()
    serving = asyncio.create_task(run_workers(workers, stop))
    try:
        [run] = (await hvdr.protect([spec])).runs
        assert run.workflow_id == handle.id
        for _ in range(100):
            status = await hvdr.protection_status(vm)
            if status.phase not in (Phase.PREFLIGHT, Phase.ENABLING):
                break
            await asyncio.sleep(0.1)
        assert status.primary_host == HOST  # the client with the key reads it in clear
    finally:
        await handle.terminate("test over")
        stop.set()
        await serving

    raw_client = await TemporalClient.connect(env.client.service_client.config.target_host)  # no codec
    history = await raw_client.get_workflow_handle(handle.id).fetch_history()
    assert lab.calls("Enable-VMReplication", vm), (
        "the run reached the hosts, so its history holds activity inputs and results"
    )
    payloads = [p for event in history.events for p in _all_payloads(_without_search_attributes(event))]
    assert len(payloads) > 5
    raw = b"".join(_without_search_attributes(e).SerializeToString() for e in history.events)
    for name in (vm, HOST, REPLICA_HOST):
        assert name.encode() not in raw, f"{name} in clear in the history"
    assert all(p.metadata["encoding"] == ENCODING for p in payloads)

    # The web UI's path: the codec server gives the names back to whoever holds the key.
    codec = load_codec(codec_settings.codec)
    assert codec is not None
    async with TestClient(TestServer(codec_app(codec))) as ui:
        response = await ui.post("/decode", json=_body(payloads))
        assert response.status == 200
        clear = b"".join(p.data for p in _payloads(await response.json()))
    assert vm.encode() in clear and HOST.encode() in clear and REPLICA_HOST.encode() in clear

    # A wrong key says so, rather than showing garbage; a rotated key set still reads the old runs.
    with pytest.raises(CodecKeyError, match="the key is wrong"):
        await AesGcmCodec({"k1": b"9" * 32}).decode(payloads)
    rotated = AesGcmCodec(parse_keys(f"k2:{KEY_2},k1:{KEY_1}", "test"))
    assert b"".join(p.data for p in await rotated.decode(payloads)) == clear


def _without_search_attributes(event: HistoryEvent) -> HistoryEvent:
    """The event minus what Temporal indexes in clear by design (the workflow id, ``protect/<vm>``, and the
    search attributes), which no codec can touch: they are how the UI's list finds a VM's runs."""
    copy = HistoryEvent()
    copy.CopyFrom(event)
    if copy.HasField("workflow_execution_started_event_attributes"):
        copy.workflow_execution_started_event_attributes.ClearField("search_attributes")
        copy.workflow_execution_started_event_attributes.ClearField("workflow_id")
    if copy.HasField("upsert_workflow_search_attributes_event_attributes"):
        copy.upsert_workflow_search_attributes_event_attributes.ClearField("search_attributes")
    if copy.marker_recorded_event_attributes.marker_name == "core_patch":
        # A workflow.patched() marker: the SDK core writes the patch id ("protection-kit") itself, no codec.
        copy.marker_recorded_event_attributes.ClearField("details")
    return copy
