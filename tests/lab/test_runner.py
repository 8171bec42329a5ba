"""The lab served for real: WinRM through plain pywinrm, the control API over HTTP, the endpoints file."""

from __future__ import annotations

import json
from pathlib import Path

import winrm

from hvdr.lab.runner import Lab


def _session(host: dict[str, str]) -> winrm.Session:
    return winrm.Session(host["url"], auth=(host["username"], host["password"]), transport="basic")


def test_pywinrm_drives_a_failover_end_to_end(tmp_path: Path) -> None:
    with Lab(speed=0) as lab:
        hosts = {h["name"]: h for h in lab.endpoints["hosts"]}
        assert {h["kind"] for h in hosts.values()} == {"hyperv", "vmm"}
        assert set(hosts["vmm-a.site-a.lab.local"]) >= {"name", "site", "url", "username", "password", "kind"}
        a1 = _session(hosts["hv-a1.site-a.lab.local"])
        b1 = _session(hosts["hv-b1.site-b.lab.local"])
        result = a1.run_ps(
            "Enable-VMReplication -VMName 'web-01' -ReplicaServerName 'hv-b1.site-b.lab.local' "
            "-ReplicaServerPort 80 -AuthenticationType Kerberos -Confirm:$false"
        )
        assert result.status_code == 0, result.std_err
        a1.run_ps("Start-VMInitialReplication -VMName 'web-01'")
        lab.advance(900)
        out = a1.run_ps(
            "$r = Get-VMReplication -VMName 'web-01' | Select-Object -Property VMName, "
            "@{Name='State'; Expression={[string]$_.State}}; ConvertTo-Json -InputObject $r"
        )
        assert out.status_code == 0, out.std_err
        assert json.loads(out.std_out) == {"VMName": "web-01", "State": "Replicating"}
        bad = a1.run_ps("Start-VMFailover -VMName 'web-01' -Prepare -Confirm:$false")
        assert bad.status_code == 1 and b"InvalidState" in bad.std_err
        assert a1.run_ps("Stop-VM -Name 'web-01'").status_code == 0
        assert a1.run_ps("Start-VMFailover -VMName 'web-01' -Prepare -Confirm:$false").status_code == 0
        assert b1.run_ps("Start-VMFailover -VMName 'web-01' -Confirm:$false").status_code == 0
        assert b1.run_ps("Set-VMReplication -VMName 'web-01' -Reverse").status_code == 0
        rows = [r for r in lab.control("GET", "/vms") if r["name"] == "web-01"]
        assert {r["replication_mode"] for r in rows} == {"Primary", "Replica"}
        assert len({r["disk_checksum"] for r in rows}) == 1  # planned failover: nothing lost
        calls = lab.control("GET", "/calls")["calls"]
        prepared = [c for c in calls if c["cmdlet"] == "Start-VMFailover" and c["host"].startswith("hv-a1")]
        assert prepared == [
            {"host": "hv-a1.site-a.lab.local", "cmdlet": "Start-VMFailover", "vm": "web-01", "count": 2}
        ]
        path = lab.write_endpoints(tmp_path / "lab" / "endpoints.json")
        assert json.loads(path.read_text())["control"] == lab.control_url
        token = path.with_suffix(".token")
        assert token.read_text().strip() == lab.control_token and token.stat().st_mode & 0o777 == 0o600
        lab.backend.add_fault("host_down", host="hv-a1")
        try:
            a1.run_ps("Get-VM")
        except Exception as exc:  # connection refused while the host is down
            assert "refused" in str(exc).lower() or "connection" in str(exc).lower()
        else:
            raise AssertionError("a down host answered")


async def test_lab_runs_in_async_code_and_ticks_on_its_own() -> None:
    async with Lab(speed=3600, tick_seconds=0.02) as lab:
        before = lab.backend.now()
        lab.backend.add_fault("latency", host="hv-a1", seconds=0.5)
        assert lab.hosts["hv-a1.site-a.lab.local"].wire_faults().latency_s == 0.5
        import asyncio

        await asyncio.sleep(0.3)
        assert lab.backend.now() - before > 600
