"""Every error class produced by a real condition in the lab and classified right; hostile names; 1,000 VMs;
no password in any log line or exception text."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hvdr.hyperv import (
    AuthenticationFailed,
    HostUnreachable,
    HyperVError,
    InvalidParameter,
    InvalidReplicationState,
    InvalidVMState,
    ReplicaServerUnreachable,
    ReplicaStorageFull,
    ReplicationSettings,
    ReplicationUpdate,
    ScriptFailed,
    ScriptTimedOut,
    StopMode,
    VMNotFound,
    WinRMServiceError,
    WinRMTimeout,
)
from hvdr.hyperv.models import ReplicationMode, ReplicationState, VMState
from tests.hyperv.conftest import A1, B1, LabDrivers, start_lab, with_vms
from tests.hyperv.test_lab_sequences import protect

HOSTILE = ['it\'s $(rm) "x"', "Сервер-БД-01", "a\u2019b \u2018quoted\u2019", "semi;colon|pipe&{x}@(y)"]


def _wait_for_port_state() -> None:
    time.sleep(0.25)  # the wire polls the fault state every 50 ms


def test_host_unreachable_and_back(lab: LabDrivers) -> None:
    a1 = lab.host(A1)
    assert a1.get_vm("db-01").name == "db-01"  # a kept-alive connection exists now
    fault = lab.lab.backend.add_fault("host_down", host=A1)
    _wait_for_port_state()
    with pytest.raises(HostUnreachable) as caught:
        a1.get_vm("db-01")
    assert caught.value.retryable and type(caught.value) is HostUnreachable
    with pytest.raises(HostUnreachable):
        lab.host(A1).list_vms()
    lab.lab.backend.clear_fault(fault.id)
    _wait_for_port_state()
    assert a1.get_vm("db-01").state is VMState.RUNNING


def test_winrm_service_errors_are_transient(http_lab: LabDrivers) -> None:
    fault = http_lab.lab.backend.add_fault("error_rate", host=A1, rate=1.0)
    with pytest.raises(WinRMServiceError) as caught:
        http_lab.host(A1).list_vms()
    assert caught.value.retryable and isinstance(caught.value, HostUnreachable)
    http_lab.lab.backend.clear_fault(fault.id)
    assert http_lab.host(A1).list_vms()


def test_timeouts(http_lab: LabDrivers) -> None:
    backend = http_lab.lab.backend
    fault = backend.add_fault("cmdlet_latency", host=A1, cmdlet="Get-VM", seconds=3)
    quick = http_lab.host(A1, command_timeout_s=1.0, operation_timeout_s=1, read_timeout_s=3)
    started = time.monotonic()
    with pytest.raises(WinRMTimeout, match="time budget") as caught:
        quick.get_vm("db-01")
    assert caught.value.retryable and time.monotonic() - started < 2.9
    backend.clear_fault(fault.id)
    assert quick.get_vm("db-01").name == "db-01"  # the terminated command left the shell usable
    fault = backend.add_fault("latency", host=A1, seconds=3)
    with pytest.raises(WinRMTimeout, match="read timeout"):
        http_lab.host(A1, operation_timeout_s=1, read_timeout_s=2).list_vms()
    backend.clear_fault(fault.id)


def test_authentication_failures(lab: LabDrivers) -> None:
    with pytest.raises(AuthenticationFailed, match="HTTP 401") as caught:
        lab.host(A1, password="not-the-password").list_vms()
    assert not caught.value.retryable
    if lab.ca_path is not None:
        with pytest.raises(AuthenticationFailed, match="certificate"):
            lab.host(A1, ca_path=None).list_vms()


def test_state_and_parameter_errors(lab: LabDrivers) -> None:
    a1, b1 = lab.host(A1), lab.host(B1)
    with pytest.raises(VMNotFound) as not_found:
        a1.stop_vm("no-such-vm", StopMode.TURN_OFF)
    assert not_found.value.vm == "no-such-vm" and not not_found.value.retryable
    with pytest.raises(InvalidReplicationState) as state:
        a1.complete_failover("web-01")
    assert state.value.operation == "complete_failover" and state.value.state == "Disabled"
    assert type(state.value) is InvalidReplicationState
    with pytest.raises(InvalidParameter, match=r"InvalidUri|IP address|host name") as bad_uri:
        a1.enable_replication("web-01", ReplicationSettings(replica_server="10.2.0.5"))
    assert bad_uri.value.error_id == "InvalidParameter"
    protect(a1, lab, "db-01")
    with pytest.raises(InvalidVMState) as vm_state:
        a1.prepare_failover("db-01")  # still running
    assert vm_state.value.error_id == "InvalidState" and vm_state.value.state == "Running"  # read back
    with pytest.raises(InvalidReplicationState) as on_primary:
        a1.enable_replication("db-01", ReplicationSettings(replica_server=B1))
    assert on_primary.value.error_id == "InvalidState"
    with pytest.raises(InvalidParameter) as no_change:
        a1.set_replication("db-01", ReplicationUpdate())
    assert no_change.value.error_id == "InvalidParameter"
    with pytest.raises(InvalidParameter) as on_primary_test:
        a1.start_failover("db-01", as_test=True)
    assert on_primary_test.value.error_id == "InvalidParameter"
    with pytest.raises(InvalidReplicationState):
        b1.complete_failover("db-01")  # the replica is Replicating, not waiting for completion


def test_replica_server_unreachable(http_lab: LabDrivers) -> None:
    a1 = http_lab.host(A1)
    fault = http_lab.lab.backend.add_fault("host_down", host=B1)
    try:
        result = a1.test_replication_connection(ReplicationSettings(replica_server=B1))
        assert not result.succeeded and B1 in result.message
        with pytest.raises(ReplicaServerUnreachable) as caught:
            a1.enable_replication("web-01", ReplicationSettings(replica_server=B1))
        assert caught.value.retryable
    finally:
        http_lab.lab.backend.clear_fault(fault.id)


def test_full_replica_storage_is_not_retried(http_lab: LabDrivers) -> None:
    """The lab writes a full replica volume as a host does (OperationFailed, ResourceUnavailable): retrying
    makes no room, so the driver says so at once instead of letting Temporal retry for hours."""
    a1 = http_lab.host(A1)
    fault = http_lab.lab.backend.add_fault("storage_full", host=B1)
    try:
        with pytest.raises(ReplicaStorageFull) as caught:
            a1.enable_replication("web-01", ReplicationSettings(replica_server=B1))
        assert not caught.value.retryable and caught.value.error_id == "OperationFailed"
        assert "insufficient storage" in caught.value.message
    finally:
        http_lab.lab.backend.clear_fault(fault.id)


def test_operator_scripts(lab: LabDrivers) -> None:
    b1 = lab.host(B1)
    result = b1.run_script("Write-Output 'checked'\nWrite-Output 'Сервер'", timeout_s=10)
    assert result.stdout == "checked\r\nСервер\r\n" and result.exit_code == 0
    with pytest.raises(ScriptFailed) as thrown:
        b1.run_script("throw 'the database did not come up'", timeout_s=10)
    assert "the database did not come up" in thrown.value.message and thrown.value.script_exit_code == 1
    with pytest.raises(ScriptFailed) as exited:
        b1.run_script("Write-Output 'x'\nexit 3", timeout_s=10)
    assert (exited.value.script_exit_code, exited.value.output) == (3, "x\r\n")
    # An error record fails the script even when it goes on to exit 0 (what powershell.exe's exit code hides).
    with pytest.raises(ScriptFailed) as written:
        b1.run_script("$ErrorActionPreference = 'Continue'\nWrite-Error 'db is down'\nWrite-Output 'on'", timeout_s=10)
    assert written.value.script_exit_code == 0 and "db is down" in written.value.message
    assert written.value.output == "on\r\n"
    # No native program ran: $LASTEXITCODE is $null, and `exit $LASTEXITCODE` exits 0, as on Windows.
    assert b1.run_script("[string]($LASTEXITCODE -eq $null)\nexit $LASTEXITCODE", timeout_s=10).stdout == "True\r\n"
    with pytest.raises(ScriptFailed) as parse:
        b1.run_script('function Test-Db { Write-Output "$(Get-Date)" }', timeout_s=10)
    assert parse.value.error_id == "UnexpectedToken"
    with pytest.raises(ScriptFailed) as unknown:
        b1.run_script("Invoke-Sqlcmd -Query 'select 1'", timeout_s=10)
    assert unknown.value.error_id == "CommandNotFoundException"
    started = time.monotonic()
    with pytest.raises(ScriptTimedOut):
        b1.run_script("Start-Sleep -Seconds 30", timeout_s=1.5)
    assert time.monotonic() - started < 5
    assert b1.run_script("Write-Output 'again'", timeout_s=10).stdout == "again\r\n"


@pytest.fixture(params=["http", "https"])
def hostile_lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LabDrivers]:
    yield from start_lab(tmp_path, https=request.param == "https", topology=with_vms(HOSTILE))


def test_hostile_names_round_trip(hostile_lab: LabDrivers) -> None:
    a1, b1 = hostile_lab.host(A1), hostile_lab.host(B1)
    names = {vm.name for vm in a1.list_vms()}
    assert set(HOSTILE) <= names
    for name in HOSTILE:
        assert a1.get_vm(name).name == name
        assert a1.stop_vm(name, StopMode.TURN_OFF).state is VMState.OFF
        assert a1.start_vm(name).state is VMState.RUNNING
    name = HOSTILE[0]
    protect(a1, hostile_lab, name, history=0)
    replica = b1.get_replication(name)
    assert replica.vm_name == name and replica.mode is ReplicationMode.REPLICA
    assert replica.state is ReplicationState.REPLICATING
    assert [h.vm_name for h in a1.measure_replication(name)] == [name]


def test_a_host_with_1000_vms_lists_correctly(tmp_path: Path) -> None:
    names = [f"bulk-{i:04d}" for i in range(1000)]
    for drivers in start_lab(tmp_path, https=False, topology=with_vms(names, host=B1)):
        b1 = drivers.host(B1)
        started = time.monotonic()
        vms = b1.list_vms()
        elapsed = time.monotonic() - started
        assert len(vms) == 1000
        assert sorted(vm.name for vm in vms) == names
        assert len({vm.id for vm in vms}) == 1000 and all(vm.state is VMState.RUNNING for vm in vms)
        assert elapsed < 30


def test_no_password_in_logs_or_exceptions(lab: LabDrivers, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    good = lab.password(A1)
    wrong = "Wr0ng-S3cret-Pa55!"
    secrets = {good, wrong}
    secrets |= {base64.b64encode(f"{lab.endpoint(A1)['username']}:{p}".encode()).decode() for p in (good, wrong)}
    texts: list[str] = []
    connection = lab.connection(A1)
    texts += [repr(connection), str(connection), repr(connection.endpoint)]
    a1 = lab.host(A1)
    a1.list_vms()
    attempts = [
        lambda: lab.host(A1, password=wrong).list_vms(),
        lambda: a1.get_vm("no-such-vm"),
        lambda: a1.complete_failover("web-01"),
        lambda: a1.run_script("throw 'x'", timeout_s=5),
    ]
    fault = lab.lab.backend.add_fault("host_down", host=A1)
    _wait_for_port_state()
    attempts.append(lambda: a1.list_vms())
    for attempt in attempts:
        with pytest.raises(HyperVError) as caught:
            attempt()
        texts += [str(caught.value), repr(caught.value), repr(caught.value.args)]
    lab.lab.backend.clear_fault(fault.id)
    texts += [record.getMessage() for record in caplog.records] + [caplog.text]
    assert len(caplog.records) > 0
    for text in texts:
        for secret in secrets:
            assert secret not in text
