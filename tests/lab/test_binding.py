"""Parameter binding behaves as PowerShell's: names, aliases, prefixes, positions, types, errors."""

from __future__ import annotations

import uuid

import pytest

from hvdr.lab.models.enums import VMReplicationState, VMState
from hvdr.lab.seam import Invocation, PSError
from tests.lab.conftest import A1, B1, Shell


def test_unknown_parameter_has_powershells_id_and_wording(sh: Shell) -> None:
    error = sh.fails(A1, "Get-VM", Bogus="x")
    assert (error.error_id, error.category) == ("NamedParameterNotFound", "InvalidArgument")
    assert error.message == "A parameter cannot be found that matches parameter name 'Bogus'."


def test_missing_vm_has_hyperv_wording(sh: Shell) -> None:
    error = sh.fails(A1, "Get-VM", "nope")
    assert (error.error_id, error.category) == ("InvalidParameter", "InvalidArgument")
    assert error.message == 'Hyper-V was unable to find a virtual machine with name "nope".'
    assert sh.fails(A1, "Get-VMReplication", VMName="nope").error_id == "InvalidParameter"


def test_names_aliases_prefixes_and_confirm(sh: Shell) -> None:
    assert sh.one(A1, "Get-VM", VMName="db-01")["Name"] == "db-01"
    assert sh.one(A1, "Get-VM", n="db-01")["Name"] == "db-01"  # unique prefix of -Name
    sh(A1, "Stop-VM", "web-01", TurnO=True, Confirm=False)  # prefix of -TurnOff; -Confirm:$false ignored
    assert sh.vm(A1, "web-01").state is VMState.Off
    error = sh.fails(A1, "Enable-VMReplication", "db-01", Replica="x")  # ReplicaServerName / ReplicaServerPort
    assert error.error_id == "AmbiguousParameter"
    assert "-ReplicaServerName" in error.message and "-ReplicaServerPort" in error.message


def test_wildcards_filter_and_never_fail(sh: Shell) -> None:
    names = [o.ps_get("Name") for o in sh(A1, "Get-VM", "web-0*")]
    assert names == ["web-01", "web-03", "web-05"]
    assert sh(A1, "Get-VM", "zzz*") == []


def test_types_convert_as_powershell_does(sh: Shell) -> None:
    sh(A1, "Enable-VMReplication", "db-01", "hv-b1.site-b.lab.local", "80", "kerberos", RecoveryHistory="2")
    rel = sh.rel(A1, "db-01")
    assert (rel.settings.replica_port, rel.settings.recovery_history, rel.settings.auth.name) == (80, 2, "Kerberos")
    error = sh.fails(A1, "Set-VMReplication", "db-01", CompressionEnabled="yes")
    assert error.error_id == "ParameterArgumentTransformationError"
    error = sh.fails(A1, "Get-VMReplication", ReplicationState="Flying")
    assert error.error_id == "CannotConvertArgumentNoMessage" and "Replicating" in error.message
    assert sh(A1, "Get-VMReplication", ReplicationState=VMReplicationState.Replicating) == []


def test_positional_overflow_and_missing_mandatory(sh: Shell) -> None:
    assert sh.fails(A1, "Get-VM", "db-01", "extra").error_id == "PositionalParameterNotFound"
    error = sh.fails("hv-b1.site-b.lab.local", "Import-VMInitialReplication", "db-01")
    assert error.error_id == "MissingMandatoryParameter" and "Path" in error.message
    assert sh.fails(A1, "Get-VM", Id=str(uuid.uuid4())).error_id == "ObjectNotFound"


def test_vm_objects_bind_from_the_pipeline_and_by_parameter(sh: Shell) -> None:
    vms = sh(A1, "Get-VM", "app-0*")
    sh(A1, "Stop-VM", pipe=vms, Force=True)
    assert {sh.vm(A1, n).state for n in ("app-01", "app-03")} == {VMState.Off}
    sh(A1, "Start-VM", VM=vms[0])
    assert sh.vm(A1, "app-01").state is VMState.Running
    error = sh.fails(A1, "Stop-VM", pipe=[42])  # a scalar converts to the ByValue string -Name, as in PowerShell
    assert error.error_id == "InvalidParameter" and '"42"' in error.message
    error = sh.fails(A1, "Stop-VM", pipe=sh(A1, "Get-VMSwitch")[:1])
    assert error.error_id == "InputObjectNotBound"


def test_whatif_changes_nothing(sh: Shell) -> None:
    sh(A1, "Stop-VM", "db-01", TurnOff=True, WhatIf=True)
    assert sh.vm(A1, "db-01").state is VMState.Running


def test_calls_are_counted_per_host_cmdlet_and_vm(sh: Shell) -> None:
    sh(A1, "Get-VM", "db-01")
    sh(A1, "Get-VM", "db-01")
    sh.fails(A1, "Get-VM", "nope")
    sh(A1, "Get-VMHost")
    counts = {(c["cmdlet"], c["vm"]): c["count"] for c in sh.backend.call_counts()}
    assert counts == {("Get-VM", "db-01"): 2, ("Get-VM", "nope"): 1, ("Get-VMHost", None): 1}


def test_parameter_sets_as_the_reference_documents_them(sh: Shell) -> None:
    error = sh.fails(A1, "Start-VMFailover")  # the default set (VMName) wants its VMName
    assert (error.error_id, error.message) == (
        "MissingMandatoryParameter",
        "Cannot process command because of one or more missing mandatory parameters: VMName.",
    )
    vm = sh(A1, "Get-VM", "web-01")[0]
    # -ComputerName exists in the VMName set only; -Confirm only where the cmdlet supports ShouldProcess.
    assert sh.fails(A1, "Complete-VMFailover", VM=[vm], ComputerName="x").error_id == "AmbiguousParameterSet"
    assert sh.fails(A1, "Get-VM", Confirm=False).error_id == "NamedParameterNotFound"
    error = sh.fails(A1, "Enable-VMReplication", "db-01", ReplicaServerName=B1, AllowedPrimaryServer="x")
    assert error.error_id == "AmbiguousParameterSet"  # -AllowedPrimaryServer belongs to the *_AsReplica sets
    # Named arguments narrow the sets first: the *_AsReplica sets have no position 1 for the server name.
    error = sh.fails(A1, "Enable-VMReplication", "db-01", B1, 80, "Kerberos", AllowedPrimaryServer="x")
    assert error.error_id == "PositionalParameterNotFound" and B1 in error.message
    error = sh.fails(A1, "Stop-VM", VM="web-01")  # a string is no VirtualMachine
    assert error.error_id == "CannotConvertArgument" and "Microsoft.HyperV.PowerShell.VirtualMachine" in error.message


def test_positionals_bind_by_type_and_position(sh: Shell) -> None:
    vm = sh(A1, "Get-VM", "web-01")[0]
    sh(A1, "Stop-VM", vm, TurnOff=True, Confirm=False)  # an object at position 0 binds -VM, not -Name
    assert sh.vm(A1, "web-01").state is VMState.Off
    sh(A1, "Enable-VMReplication", "db-01", B1, 80, "Kerberos")  # Enable-VMReplication.md Example 1
    assert sh.rel(A1, "db-01").settings.replica_server == B1
    sh(A1, "Start-VMInitialReplication", "db-01")
    replications = sh(A1, "Get-VMReplication", "db-01")
    sh(A1, "Suspend-VMReplication", pipe=replications, Confirm=False)  # VMReplication objects bind by value
    assert sh.state(A1, "db-01") == "Suspended"
    sh(A1, "Resume-VMReplication", VMReplication=replications)
    assert sh.state(A1, "db-01") != "Suspended"


def test_a_command_after_a_pipe_that_delivers_nothing_never_runs(sh: Shell) -> None:
    start_failover = sh.hosts[B1].cmdlet("Start-VMFailover")
    assert start_failover is not None
    # Get-VMSnapshot VM01 -Name x | Start-VMFailover [-AsTest]: no record, so no mandatory -VMName/-VM and no set
    # to choose; PowerShell reports only the upstream error.
    assert start_failover(Invocation("Start-VMFailover", [], [], [], piped=True)) == []
    assert start_failover(Invocation("Start-VMFailover", [("AsTest", True)], [], [], piped=True)) == []
    # The command line itself is still bound: a wrong parameter name fails even with nothing piped in.
    with pytest.raises(PSError) as info:
        start_failover(Invocation("Start-VMFailover", [("Bogus", True)], [], [], piped=True))
    assert info.value.error_id == "NamedParameterNotFound"
    # First in its pipeline, the same call misses its mandatory parameter.
    assert sh.fails(B1, "Start-VMFailover").error_id == "MissingMandatoryParameter"
