"""Every wrong-state case of reference §3.5 fails with Hyper-V's error id — never silently."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hvdr.lab.models.enums import VMState
from tests.lab.conftest import A1, B1, Shell


def _replicating(sh: Shell) -> None:
    sh.protect("web-01", RecoveryHistory=1)
    sh.advance(3700)


def _off(sh: Shell) -> None:
    _replicating(sh)
    sh(A1, "Stop-VM", "web-01")


def _suspended_off(sh: Shell) -> None:
    _off(sh)
    sh(A1, "Suspend-VMReplication", "web-01")


def _resyncing(sh: Shell) -> None:
    _suspended_off(sh)
    sh(A1, "Resume-VMReplication", "web-01", Resynchronize=True)


def _needs_resync(sh: Shell) -> None:
    _off(sh)
    sh.backend.add_fault("crash", host=A1)
    sh.backend.clear_faults()


def _enabled(sh: Shell) -> None:
    sh.enable("web-01")


def _failed_over(sh: Shell) -> None:
    _off(sh)
    sh(B1, "Start-VMFailover", "web-01")


def _committed(sh: Shell) -> None:
    _failed_over(sh)
    sh(B1, "Complete-VMFailover", "web-01")


def _test_failover(sh: Shell) -> None:
    _replicating(sh)
    sh(B1, "Start-VMFailover", "web-01", AsTest=True)


CASES: list[tuple[str, Callable[[Shell], None], str, str, dict[str, Any], str]] = [
    ("prepare, VM running", _replicating, A1, "Start-VMFailover", {"Prepare": True}, "InvalidState"),
    (
        "prepare, suspended",
        _suspended_off,
        A1,
        "Start-VMFailover",
        {"Prepare": True},
        "InvalidState",
    ),
    (
        "prepare, resynchronizing",
        _resyncing,
        A1,
        "Start-VMFailover",
        {"Prepare": True},
        "InvalidState",
    ),
    (
        "prepare, resync required",
        _needs_resync,
        A1,
        "Start-VMFailover",
        {"Prepare": True},
        "InvalidState",
    ),
    ("failover on primary without -Prepare", _off, A1, "Start-VMFailover", {}, "InvalidParameter"),
    (
        "test failover on primary",
        _off,
        A1,
        "Start-VMFailover",
        {"AsTest": True},
        "InvalidParameter",
    ),
    (
        "failover before any replication",
        _enabled,
        B1,
        "Start-VMFailover",
        {},
        "InvalidState",
    ),
    (
        "failover of a committed replica",
        _committed,
        B1,
        "Start-VMFailover",
        {},
        "InvalidState",
    ),
    (
        "test failover while resynchronizing",
        _resyncing,
        B1,
        "Start-VMFailover",
        {"AsTest": True},
        "InvalidState",
    ),
    (
        "failover of a test VM",
        _test_failover,
        B1,
        "Start-VMFailover",
        {"VMName": "web-01 - Test"},
        "InvalidState",
    ),
    (
        "complete while replicating",
        _replicating,
        B1,
        "Complete-VMFailover",
        {},
        "InvalidState",
    ),
    ("complete twice", _committed, B1, "Complete-VMFailover", {}, "InvalidState"),
    ("complete on primary", _off, A1, "Complete-VMFailover", {}, "InvalidState"),
    (
        "complete without replication",
        lambda sh: None,
        A1,
        "Complete-VMFailover",
        {},
        "InvalidState",
    ),
    (
        "reverse on primary",
        _off,
        A1,
        "Set-VMReplication",
        {"Reverse": True},
        "InvalidState",
    ),
    (
        "reverse before failover",
        _replicating,
        B1,
        "Set-VMReplication",
        {"Reverse": True},
        "InvalidState",
    ),
    (
        "stop failover with nothing to stop",
        _replicating,
        B1,
        "Stop-VMFailover",
        {},
        "InvalidState",
    ),
    (
        "stop failover on a plain primary",
        _replicating,
        A1,
        "Stop-VMFailover",
        {},
        "InvalidState",
    ),
    (
        "initial replication twice",
        _replicating,
        A1,
        "Start-VMInitialReplication",
        {},
        "InvalidState",
    ),
    (
        "initial replication on the replica",
        _enabled,
        B1,
        "Start-VMInitialReplication",
        {},
        "InvalidState",
    ),
    (
        "import when not waiting",
        _replicating,
        B1,
        "Import-VMInitialReplication",
        {"Path": "F:\\ir"},
        "InvalidState",
    ),
    (
        "suspend before initial replication",
        _enabled,
        A1,
        "Suspend-VMReplication",
        {},
        "InvalidState",
    ),
    ("suspend twice", _suspended_off, A1, "Suspend-VMReplication", {}, "InvalidState"),
    (
        "suspend without replication",
        lambda sh: None,
        A1,
        "Suspend-VMReplication",
        {},
        "InvalidState",
    ),
    (
        "resume while replicating",
        _replicating,
        A1,
        "Resume-VMReplication",
        {},
        "InvalidState",
    ),
    (
        "remove without replication",
        lambda sh: None,
        A1,
        "Remove-VMReplication",
        {},
        "InvalidState",
    ),
    (
        "enable twice",
        _enabled,
        A1,
        "Enable-VMReplication",
        {"ReplicaServerName": B1, "ReplicaServerPort": 80, "AuthenticationType": "Kerberos"},
        "InvalidState",
    ),
    (
        "settings on the replica",
        _replicating,
        B1,
        "Set-VMReplication",
        {"ReplicationFrequencySec": 30},
        "InvalidState",
    ),
    ("no settings at all", _replicating, A1, "Set-VMReplication", {}, "InvalidParameter"),
    (
        "as replica while running",
        _replicating,
        A1,
        "Set-VMReplication",
        {"AsReplica": True},
        "InvalidState",
    ),
    (
        "stop replication without a resync",
        _replicating,
        A1,
        "Stop-VMReplication",
        {},
        "InvalidState",
    ),
]


@pytest.mark.parametrize(
    ("setup", "host", "cmdlet", "named", "error_id"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_wrong_state_fails_as_hyperv_does(
    sh: Shell, setup: Callable[[Shell], None], host: str, cmdlet: str, named: dict[str, Any], error_id: str
) -> None:
    setup(sh)
    before = {(vm.host.fqdn, vm.name): (vm.state, vm.replication_state) for vm in sh.backend.all_vms()}
    args = () if "VMName" in named else ("web-01",)
    error = sh.fails(host, cmdlet, *args, **named)
    assert error.error_id == error_id, error.message
    assert error.message
    if error_id == "InvalidState":
        assert "web-01" in error.message and error.category == "InvalidOperation"
    after = {(vm.host.fqdn, vm.name): (vm.state, vm.replication_state) for vm in sh.backend.all_vms()}
    assert after == before  # nothing changed


def test_saved_is_not_off(sh: Shell) -> None:
    _replicating(sh)
    sh(A1, "Stop-VM", "web-01", Save=True)
    error = sh.fails(A1, "Start-VMFailover", "web-01", Prepare=True)
    assert error.error_id == "InvalidState" and "Saved" in error.message


def test_replica_vm_must_be_off_for_failover(sh: Shell) -> None:
    _failed_over(sh)
    sh(B1, "Start-VM", "web-01")
    sh(B1, "Stop-VMFailover", "web-01")  # turns it off and reverts
    assert sh.vm(B1, "web-01").state is VMState.Off
    sh.vm(B1, "web-01").state = VMState.Running  # as if started outside the failover flow
    assert sh.fails(B1, "Start-VMFailover", "web-01").error_id == "InvalidState"


def test_reverse_with_certificates_needs_the_thumbprint(sh: Shell) -> None:
    for host in (A1, B1):
        sh(host, "Set-VMReplicationServer", True, "CertificateAndKerberos", True, CertificateThumbprint="AB" * 20)
    sh(A1, "Enable-VMReplication", "web-01", B1, 443, "Certificate", CertificateThumbprint="CD" * 20)
    sh(A1, "Start-VMInitialReplication", "web-01")
    sh.advance(600)
    sh(A1, "Stop-VM", "web-01")
    sh(A1, "Start-VMFailover", "web-01", Prepare=True)
    sh(B1, "Start-VMFailover", "web-01")
    error = sh.fails(B1, "Set-VMReplication", "web-01", Reverse=True)
    assert error.error_id == "InvalidParameter"
    sh(B1, "Set-VMReplication", "web-01", Reverse=True, CertificateThumbprint="EF" * 20)
    assert sh.state(B1, "web-01") == "Replicating"


def test_unplanned_failover_is_allowed_during_resync(sh: Shell) -> None:
    _resyncing(sh)
    sh(B1, "Start-VMFailover", "web-01")
    assert sh.state(B1, "web-01") == "FailedOverWaitingCompletion"
    sh.advance(3600)  # the cancelled resynchronization does not overwrite the failed-over copy
    assert sh.state(B1, "web-01") == "FailedOverWaitingCompletion"
