"""Driven with plain pywinrm, every kind of refusal of the lab's cmdlets comes back in the form a real host writes
(FullyQualifiedErrorId ``<Identifier>,Microsoft.HyperV.PowerShell.Commands.<Class>``, CategoryInfo naming
VirtualizationException or PowerShell's ParameterBindingException), as CLIXML on stderr, and the driver maps each
to the right typed error."""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Iterator

import pytest
import winrm

from hvdr.hyperv import errors
from hvdr.hyperv.clixml import classify, parse_error
from hvdr.lab.runner import Lab
from tests.hyperv.conftest import A1

HV = "Microsoft.HyperV.PowerShell.Commands."
B1_NAME = "hv-b1.site-b.lab.local"


class Host:
    """``powershell -encodedcommand`` over a plain pywinrm shell; stderr is returned raw (CLIXML)."""

    def __init__(self, lab: Lab, name: str) -> None:
        endpoint = next(h for h in lab.endpoints["hosts"] if h["name"] == name)
        self.protocol = winrm.Session(endpoint["url"], auth=(endpoint["username"], endpoint["password"])).protocol

    def run(self, script: str) -> tuple[int, str]:
        shell = self.protocol.open_shell()
        try:
            encoded = b64encode(("$ErrorActionPreference = 'Stop'\n" + script).encode("utf_16_le")).decode()
            command = self.protocol.run_command(shell, "powershell", ["-encodedcommand", encoded])
            _, stderr, code = self.protocol.get_command_output(shell, command)
            self.protocol.cleanup_command(shell, command)
        finally:
            self.protocol.close_shell(shell)
        return code, stderr.decode("utf-8")

    def succeeds(self, script: str) -> None:
        code, stderr = self.run(script)
        assert code == 0 and 'S="Error"' not in stderr, stderr


@pytest.fixture(scope="module")
def a1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    del tmp_path_factory
    lab = Lab(None, speed=600, https=False)
    lab.start()
    try:
        host = Host(lab, A1)
        # Positional binding as Enable-VMReplication.md Example 1 writes it.
        host.succeeds(f"Enable-VMReplication 'db-01' '{B1_NAME}' 80 Kerberos")
        yield host
    finally:
        lab.stop()


CASES = [
    # missing objects
    ("Get-VM -Name 'nope'", "InvalidParameter", "GetVM", "InvalidArgument", "nope", "nope", errors.VMNotFound),
    (
        "Get-VM -Id '00000000-0000-0000-0000-0000000000aa'",
        "ObjectNotFound",
        "GetVM",
        "ObjectNotFound",
        "00000000-0000-0000-0000-0000000000aa",
        "00000000-0000-0000-0000-0000000000aa",
        errors.VMNotFound,
    ),
    ("Stop-VM 'nope' -TurnOff", "InvalidParameter", "StopVM", "InvalidArgument", "nope", "nope", errors.VMNotFound),
    (
        "Get-VMSnapshot -VMName 'db-01' -Name 'nope'",
        "ObjectNotFound",
        "GetVMSnapshot",
        "ObjectNotFound",
        None,
        "db-01",
        errors.InvalidParameter,
    ),
    (
        "Test-VMReplicationConnection 'nohost.site-b.lab.local' 80 Kerberos",
        "OperationFailed",
        "TestVMReplicationConnection",
        "ConnectionError",
        "nohost.site-b.lab.local",
        None,
        errors.ReplicaServerUnreachable,
    ),
    # wrong mode
    (
        "Complete-VMFailover -VMName 'web-01' -Confirm:$false",
        "InvalidState",
        "CompleteVMFailover",
        "InvalidOperation",
        "web-01",
        "web-01",
        errors.InvalidReplicationState,
    ),
    (
        "Get-VMReplication -VMName 'web-01'",
        "ObjectNotFound",
        "GetVMReplication",
        "ObjectNotFound",
        "web-01",
        "web-01",
        errors.InvalidReplicationState,
    ),
    (
        "Set-VMReplication -VMName 'db-01' -Reverse -Confirm:$false",
        "InvalidState",
        "SetVMReplication",
        "InvalidOperation",
        "db-01",
        "db-01",
        errors.InvalidReplicationState,
    ),
    # wrong state
    (
        "Start-VMFailover -VMName 'db-01' -Prepare -Confirm:$false",
        "InvalidState",
        "StartVMFailover",
        "InvalidOperation",
        "db-01",
        "db-01",
        errors.InvalidReplicationState,
    ),
    (
        f"Enable-VMReplication 'db-01' '{B1_NAME}' 80 Kerberos",
        "InvalidState",
        "EnableVMReplication",
        "InvalidOperation",
        "db-01",
        "db-01",
        errors.InvalidReplicationState,
    ),
    (
        "Enable-VMReplication 'web-01' '10.2.0.5' 80 Kerberos",
        "InvalidParameter",
        "EnableVMReplication",
        "InvalidArgument",
        "10.2.0.5",
        "web-01",
        errors.InvalidParameter,
    ),
]
BINDER = [
    ("Get-VM -Force", "NamedParameterNotFound", "GetVM", "InvalidArgument", "ParameterBindingException"),
    ("Get-VM -Confirm:$false", "NamedParameterNotFound", "GetVM", "InvalidArgument", "ParameterBindingException"),
    ("Get-VM 'db-01' 'extra'", "PositionalParameterNotFound", "GetVM", "InvalidArgument", "ParameterBindingException"),
    (
        "Start-VMFailover -VMName 'db-01' -Prepare -AsTest",
        "AmbiguousParameterSet",
        "StartVMFailover",
        "InvalidArgument",
        "ParameterBindingException",
    ),
    (
        "Enable-VMReplication 'web-01' -AsReplica -ReplicaServerName 'x'",
        "AmbiguousParameterSet",
        "EnableVMReplication",
        "InvalidArgument",
        "ParameterBindingException",
    ),
    (
        "Enable-VMReplication -VMName 'web-01' -ReplicaServerName",
        "MissingArgument",
        "EnableVMReplication",
        "InvalidArgument",
        "ParameterBindingException",
    ),
    (
        "Import-VMInitialReplication -VMName 'db-01'",
        "MissingMandatoryParameter",
        "ImportVMInitialReplication",
        "InvalidArgument",
        "ParameterBindingException",
    ),
    (
        "Stop-VM -VM 'db-01'",
        "CannotConvertArgument",
        "StopVM",
        "InvalidArgument",
        "ParameterBindingException",
    ),
    (
        "Set-VMReplication -VMName 'db-01' -CompressionEnabled 'yes'",
        "ParameterArgumentTransformationError",
        "SetVMReplication",
        "InvalidData",
        "ParameterBindingArgumentTransformationException",
    ),
    (
        "Set-VMReplication 'db-01' -ReplicationFrequencySec 42",
        "ParameterArgumentValidationError",
        "SetVMReplication",
        "InvalidData",
        "ParameterBindingValidationException",
    ),
]


def _check_form(stderr: str, identifier: str, cls: str, category: str, target: str | None, exception: str) -> None:
    assert stderr.startswith("#< CLIXML\r\n")
    info = parse_error(stderr)
    assert (info.error_id, info.command_class, info.category, info.exception) == (identifier, cls, category, exception)
    assert info.target == target
    text = info.text
    assert f"+ FullyQualifiedErrorId : {identifier},{HV}{cls}\n" in text + "\n"
    shown = f"{target}:String" if target else ":"
    assert f"+ CategoryInfo          : {category}: ({shown}) [{info.command}], {exception}" in text


@pytest.mark.parametrize(("script", "identifier", "cls", "category", "target", "vm", "expected"), CASES)
def test_refusals_come_back_as_a_host_writes_them(
    a1: Host,
    script: str,
    identifier: str,
    cls: str,
    category: str,
    target: str | None,
    vm: str | None,
    expected: type[errors.HyperVError],
) -> None:
    code, stderr = a1.run(script)
    assert code == 1
    _check_form(stderr, identifier, cls, category, target, "VirtualizationException")
    assert type(classify(parse_error(stderr), operation="op", vm=vm)) is expected


@pytest.mark.parametrize(("script", "identifier", "cls", "category", "exception"), BINDER)
def test_binder_errors_are_powershells_own(
    a1: Host, script: str, identifier: str, cls: str, category: str, exception: str
) -> None:
    code, stderr = a1.run(script)
    assert code == 1
    _check_form(stderr, identifier, cls, category, None, exception)
    assert type(classify(parse_error(stderr), operation="op", vm="db-01")) is errors.InvalidParameter


def test_documented_positional_forms_run(a1: Host) -> None:
    """Forms from the cmdlet pages' EXAMPLES: positional parameters, the default set, a unique prefix."""
    a1.succeeds(f"Test-VMReplicationConnection '{B1_NAME}' 80 Kerberos")  # Test-VMReplicationConnection.md Ex. 1
    a1.succeeds("Get-VMReplication 'db-01'")  # Get-VMReplication.md Example 2
    a1.succeeds("Set-VMReplication 'db-01' -RecoveryHistory 4 -VSSSnapshotFrequency 4")  # Set-VMReplication.md Ex. 3
    a1.succeeds("Get-VMReplicationServer")
