"""``hvdr lab status`` and ``hvdr lab fault …`` against a running lab; one-line errors without one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hvdr.cli.lab import app
from hvdr.lab.runner import Lab

runner = CliRunner()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Lab, Path]]:
    with Lab(speed=0, wire=False) as lab:
        yield lab, lab.write_endpoints(tmp_path / "endpoints.json")


def test_status_without_a_lab_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    result = runner.invoke(app, ["status", "--endpoints", str(missing)])
    assert result.exit_code == 1
    assert "the lab is not running" in result.output and "hvdr lab up" in result.output
    assert "Traceback" not in result.output


def test_status_lists_every_copy(running: tuple[Lab, Path]) -> None:
    _, path = running
    result = runner.invoke(app, ["status", "--endpoints", str(path), "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 12 and {r["replication_state"] for r in rows} == {"Disabled"}
    table = runner.invoke(app, ["status", "--endpoints", str(path)])
    assert table.exit_code == 0 and "db-01" in table.output


def test_fault_commands(running: tuple[Lab, Path]) -> None:
    lab, path = running
    ep = ["--endpoints", str(path)]
    assert runner.invoke(app, ["fault", "host-down", "hv-a1", *ep]).exit_code == 0
    assert runner.invoke(app, ["fault", "partition", "site-a", "site-b", *ep]).exit_code == 0
    assert runner.invoke(app, ["fault", "latency", "hv-b1", "0.5", *ep]).exit_code == 0
    assert runner.invoke(app, ["fault", "error-rate", "hv-b1", "0.1", *ep]).exit_code == 0
    assert runner.invoke(app, ["fault", "cmdlet-latency", "hv-b1", "Get-VM", "2", *ep]).exit_code == 0
    assert runner.invoke(app, ["fault", "storage-full", "hv-b2", *ep]).exit_code == 0
    assert runner.invoke(app, ["fault", "crash", "hv-a2", *ep]).exit_code == 0
    assert len(lab.backend.faults.faults) == 7
    listed = runner.invoke(app, ["fault", "list", "--output", "json", *ep])
    assert {f["kind"] for f in json.loads(listed.output)} == {
        "host_down",
        "partition",
        "latency",
        "error_rate",
        "cmdlet_latency",
        "storage_full",
        "crash",
    }
    bad = runner.invoke(app, ["fault", "host-down", "hv-zz", *ep])
    assert bad.exit_code == 1 and "no host named" in bad.output
    assert runner.invoke(app, ["fault", "clear", "f1", *ep]).exit_code == 0
    assert runner.invoke(app, ["fault", "clear", "f1", *ep]).exit_code == 1
    assert runner.invoke(app, ["fault", "clear", *ep]).exit_code == 1
    assert runner.invoke(app, ["fault", "clear", "--all", *ep]).exit_code == 0
    assert lab.backend.faults.faults == {}


def test_the_cli_needs_the_labs_token(running: tuple[Lab, Path]) -> None:
    lab, path = running
    assert lab.control_url.startswith("http://127.0.0.1:")  # loopback only
    token = path.with_suffix(".token")
    assert token.stat().st_mode & 0o777 == 0o600
    token.write_text("a-token-of-another-lab\n")
    refused = runner.invoke(app, ["fault", "crash", "hv-a2", "--endpoints", str(path)])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert f"refused the control token in {token} (HTTP 401)" in refused.output.replace("\n", "")
    token.unlink()
    missing = runner.invoke(app, ["status", "--endpoints", str(path)])
    assert missing.exit_code == 1 and "cannot read the lab's control token" in missing.output
    assert lab.backend.faults.faults == {}


def test_guest_fault_commands_and_split_brain_in_status(running: tuple[Lab, Path]) -> None:
    lab, path = running
    ep = ["--endpoints", str(path)]
    assert runner.invoke(app, ["fault", "hung-guest", "hv-a1", "db-01", *ep]).exit_code == 0
    assert runner.invoke(app, ["fault", "slow-boot", "hv-a1", "web-01", "120", *ep]).exit_code == 0
    assert runner.invoke(app, ["fault", "integration-services-off", "hv-a1", "app-01", *ep]).exit_code == 0
    listed = runner.invoke(app, ["fault", "list", *ep])
    assert listed.exit_code == 0 and "db-01" in listed.output and "slow_boot" in listed.output
    bad = runner.invoke(app, ["fault", "hung-guest", "hv-a1", "ghost", *ep])
    assert bad.exit_code == 1 and "no VM named 'ghost'" in bad.output
    assert runner.invoke(app, ["fault", "clear", "--all", *ep]).exit_code == 0

    from hvdr.lab.cmdlets import ps_hosts
    from hvdr.lab.seam import Invocation

    hosts = ps_hosts(lab.backend)
    a1, b1 = "hv-a1.site-a.lab.local", "hv-b1.site-b.lab.local"

    def run(host: str, cmdlet: str, *args: object, **named: object) -> None:
        fn = hosts[host].cmdlet(cmdlet)
        assert fn is not None
        fn(Invocation(cmdlet, list(named.items()), list(args)))

    run(a1, "Enable-VMReplication", "web-01", b1, 80, "Kerberos")
    run(a1, "Start-VMInitialReplication", VMName="web-01")
    lab.advance(3 * 3600)
    run(b1, "Start-VMFailover", "web-01")
    run(b1, "Start-VM", "web-01")
    lab.advance(120)
    table = runner.invoke(app, ["status", *ep])
    assert table.exit_code == 0
    assert "split brain: two copies running" in table.output and "web-01" in table.output
    rows = json.loads(runner.invoke(app, ["status", "--output", "json", *ep]).output)
    assert sorted(r["host"] for r in rows if r["split_brain"]) == [a1, b1]
