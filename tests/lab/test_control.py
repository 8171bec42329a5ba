"""The control API: the truth about every copy, faults, call counts and the clock."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from hvdr.lab.control import create_app
from hvdr.lab.models.backend import LabBackend
from tests.lab.conftest import A1, B1, Shell

TOKEN = "test-token"


async def _client(backend: LabBackend, token: str = TOKEN) -> TestClient[Any, Any]:
    app = create_app(backend, lambda: {"control": "x", "hosts": []}, token=TOKEN)
    client: TestClient[Any, Any] = TestClient(TestServer(app), headers={"Authorization": f"Bearer {token}"})
    await client.start_server()
    return client


async def test_every_route_needs_the_token(sh: Shell) -> None:
    for token in ("wrong-token", ""):
        client = await _client(sh.backend, token)
        try:
            for method, route in (("GET", "/hosts"), ("GET", "/vms"), ("POST", "/faults"), ("DELETE", "/faults")):
                response = await client.request(method, route, json={"kind": "host_down", "host": A1})
                assert response.status == 401, (method, route)
                assert (await response.json()) == {"error": "the lab's control token is missing or wrong"}
        finally:
            await client.close()
    assert sh.backend.faults.faults == {}


async def test_vms_lists_every_copy_with_its_checksum(sh: Shell) -> None:
    sh.protect("web-01")
    client = await _client(sh.backend)
    try:
        response = await client.get("/vms")
        assert response.status == 200
        rows = await response.json()
        assert len(rows) == 13
        copies = {r["host"]: r for r in rows if r["name"] == "web-01"}
        for key in (
            "name",
            "host",
            "site",
            "power_state",
            "replication_mode",
            "replication_state",
            "replication_health",
            "disk_checksum",
        ):
            assert key in copies[A1]
        assert (copies[A1]["replication_mode"], copies[B1]["replication_mode"]) == ("Primary", "Replica")
        assert (copies[A1]["site"], copies[B1]["power_state"]) == ("site-a", "Off")
        sh.to_next_cycle(A1, "web-01")
        rows = await (await client.get("/vms")).json()
        assert len({r["disk_checksum"] for r in rows if r["name"] == "web-01"}) == 1
        assert (await (await client.get("/health")).json())["vms"] == 13
        assert (await (await client.get("/hosts")).json()) == {"control": "x", "hosts": []}
    finally:
        await client.close()


async def test_faults_can_be_injected_listed_and_cleared(sh: Shell) -> None:
    client = await _client(sh.backend)
    try:
        response = await client.post("/faults", json={"kind": "host-down", "host": "hv-a1"})
        assert response.status == 201
        fault = await response.json()
        assert fault["host"] == A1 and sh.hosts[A1].wire_faults().down
        await client.post("/faults", json={"kind": "cmdlet_latency", "host": A1, "cmdlet": "Get-VM", "seconds": 2})
        await client.post("/faults", json={"kind": "error_rate", "host": B1, "rate": 0.5})
        assert sh.hosts[A1].wire_faults().cmdlet_latency_s == {"get-vm": 2.0}
        assert sh.hosts[B1].wire_faults().error_rate == 0.5
        assert len(await (await client.get("/faults")).json()) == 3
        bad = await client.post("/faults", json={"kind": "meteor", "host": A1})
        assert bad.status == 400 and "unknown fault kind" in (await bad.json())["error"]
        bad = await client.post("/faults", json={"kind": "partition", "site_a": "site-a", "site_b": "mars"})
        assert bad.status == 400
        assert (await client.delete(f"/faults/{fault['id']}")).status == 200
        assert not sh.hosts[A1].wire_faults().down
        assert (await client.delete("/faults/nope")).status == 404
        cleared = await (await client.delete("/faults")).json()
        assert len(cleared["cleared"]) == 2 and sh.backend.faults.faults == {}
    finally:
        await client.close()


async def test_calls_and_clock(sh: Shell) -> None:
    client = await _client(sh.backend)
    try:
        sh(A1, "Get-VM", "db-01")
        sh(A1, "Stop-VM", "db-01")
        calls = await (await client.get("/calls")).json()
        assert calls["total"] == 2
        assert {"host": A1, "cmdlet": "Stop-VM", "vm": "db-01", "count": 1} in calls["calls"]
        await client.delete("/calls")
        assert (await (await client.get("/calls")).json())["total"] == 0
        before = sh.backend.now()
        status = await (await client.post("/clock", json={"advance_s": 600, "speed": 5})).json()
        assert status["speed"] == 5 and sh.backend.now() - before >= 600
        assert (await client.post("/clock", json={"advance_s": "soon"})).status == 400
    finally:
        await client.close()


async def test_guest_faults_and_split_brain(sh: Shell) -> None:
    client = await _client(sh.backend)
    try:
        for body in (
            {"kind": "hung-guest", "host": "hv-a1", "vm": "db-01"},
            {"kind": "slow_boot", "host": A1, "vm": "web-01", "seconds": 90},
            {"kind": "integration_services_off", "host": A1, "vm": "app-01"},
        ):
            assert (await client.post("/faults", json=body)).status == 201
        faults = await (await client.get("/faults")).json()
        assert {(f["kind"], f["vm"]) for f in faults} == {
            ("hung_guest", "db-01"),
            ("slow_boot", "web-01"),
            ("integration_services_off", "app-01"),
        }
        assert sh.vm(A1, "db-01").hung and sh.vm(A1, "app-01").integration_services_off
        bad = await client.post("/faults", json={"kind": "hung_guest", "host": A1, "vm": "ghost"})
        assert bad.status == 400 and "no VM named 'ghost'" in (await bad.json())["error"]
        await client.delete("/faults")
        assert not sh.vm(A1, "db-01").hung and sh.vm(A1, "web-01").slow_boot_s == 0

        sh.protect("web-01")
        sh(B1, "Start-VMFailover", "web-01")  # unplanned, while the primary still runs
        sh(B1, "Start-VM", "web-01")
        sh.advance(120)
        (split,) = (await (await client.get("/health")).json())["split_brain"]
        assert split["name"] == "web-01" and sorted(split["hosts"]) == [A1, B1]
        rows = await (await client.get("/vms")).json()
        assert sorted(r["host"] for r in rows if r["split_brain"]) == [A1, B1]
    finally:
        await client.close()
