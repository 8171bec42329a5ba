"""`hvdr codec-server` as an operator runs it: it serves the key holder's payloads, stops on SIGTERM, and
refuses to start without a key."""

from __future__ import annotations

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
from pathlib import Path

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from tests.cli.helpers import hvdr

KEYS = f"k1:{base64.b64encode(b'1' * 32).decode()}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: object, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {**headers, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read(), dict(response.headers)


def test_the_codec_server_round_trips_a_payload_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HVDR_")}
    env |= {"HVDR_HOME": str(tmp_path), "HVDR_CODEC_KEYS": KEYS, "HVDR_CODEC_AUTH_TOKEN": "t0ken"}
    command = [sys.executable, "-c", "from hvdr.cli.main import main; main()", "codec-server", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        clear = Payload(metadata={"encoding": b"json/plain"}, data=b'"hv-a1.site-a.example"')
        body = json_format.MessageToDict(Payloads(payloads=[clear]))
        headers = {"Authorization": "Bearer t0ken", "Origin": "http://127.0.0.1:8233"}
        deadline = time.monotonic() + 60  # the CLI's start-up on a busy machine
        while True:
            try:
                encoded, answer_headers = _post(f"http://127.0.0.1:{port}/encode", body, headers)
                break
            except urllib.error.URLError:
                assert process.poll() is None, f"the codec server exited: {process.communicate()[1]}"
                assert time.monotonic() < deadline, f"the codec server never answered on port {port}"
                time.sleep(0.1)
        assert b"hv-a1" not in encoded
        assert answer_headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8233"  # the embedded UI
        decoded, _ = _post(f"http://127.0.0.1:{port}/decode", json.loads(encoded), headers)
        assert json_format.ParseDict(json.loads(decoded), Payloads()).payloads[0] == clear
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert f"Codec server on http://127.0.0.1:{port}" in out and "encrypting with k1" in out


def test_without_a_key_it_says_what_to_set(tmp_path: Path) -> None:
    result = hvdr("codec-server", env={"HVDR_HOME": str(tmp_path)})
    assert result.code == 2
    assert "no payload codec key is configured: set HVDR_CODEC_KEYS or HVDR_CODEC_KEY_FILE" in result.err
    assert "Traceback" not in result.err
