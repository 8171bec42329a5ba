"""Operators' own PowerShell (recovery-plan script actions) run through plain pywinrm against the lab.

Each script is written as an admin writes it — barewords, positional arguments, script blocks, operators —
and must behave as Windows PowerShell 5.1 on a Hyper-V host does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import winrm

from hvdr.topology import default_topology
from tests.hyperv.conftest import A1, A2, B1, LabDrivers, start_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabDrivers]:
    yield from start_lab(tmp_path_factory.mktemp("lab"), https=False)


def session(lab: LabDrivers, host: str) -> winrm.Session:
    ep = lab.endpoint(host)
    return winrm.Session(ep["url"], auth=(ep["username"], ep["password"]))


def run(lab: LabDrivers, script: str, host: str = A1) -> tuple[int, str, str]:
    result = session(lab, host).run_ps("$ProgressPreference = 'SilentlyContinue'\n" + script)
    return result.status_code, result.std_out.decode(), result.std_err.decode()


def test_default_plan_script_action_runs_on_its_host(lab: LabDrivers) -> None:
    # The plan's post-action runs on hv-b1 once db-01 is replicated there: enable it as Microsoft's
    # Enable-VMReplication example does, with positional arguments only.
    code, _, err = run(lab, f"Enable-VMReplication db-01 {B1} 80 Kerberos")
    assert code == 0, err
    action = next(
        action
        for plan in default_topology().recovery_plans
        for group in plan.groups
        for action in group.post_actions
        if action.type == "script"
    )
    code, out, err = run(lab, action.script, host=action.host)
    assert code == 0, err
    assert [line.split(":", 1)[1].strip() for line in out.split("\r\n") if ":" in line] == ["db-01", "Off"]


def test_barewords_are_strings_or_numbers_as_powershell_tokenizes_them(lab: LabDrivers) -> None:
    code, out, err = run(
        lab,
        "Write-Output db-01 C:\\VMs\\x d:\\DefaultReplicaStorage 10.2.0.11 replica.contoso.com 80 1.5 0x10 1gb\n"
        "(Write-Output 80) -is [int]; (Write-Output 10.2.0.11) -is [string]",
    )
    assert code == 0, err
    assert out.split("\r\n")[:-1] == [
        "db-01",
        "C:\\VMs\\x",
        "d:\\DefaultReplicaStorage",
        "10.2.0.11",
        "replica.contoso.com",
        "80",
        "1.5",
        "16",
        "1073741824",
        "True",
        "True",
    ]
    code, out, err = run(lab, "Get-VM -Name db-01 | Select-Object -ExpandProperty Name")
    assert (code, out) == (0, "db-01\r\n"), err


def test_pipelines_with_script_blocks_and_simplified_where(lab: LabDrivers) -> None:
    code, out, err = run(lab, "Get-VM | Where-Object {$_.State -eq 'Running'} | Select-Object -ExpandProperty Name")
    assert code == 0, err
    names = out.split("\r\n")[:-1]
    assert names and "db-01" in names and all(n.split("-")[0] in ("db", "app", "web") for n in names)
    code, out2, err = run(lab, "Get-VM | Where-Object State -eq Running | ForEach-Object { $PSItem.Name }")
    assert (code, out2) == (0, out), err
    code, out, err = run(
        lab,
        "Get-VM | Where-Object Name -like 'web*' | Sort-Object Name -Descending | Select-Object -First 2 -Property Name"
        " | ConvertTo-Json -Compress",
    )
    assert code == 0, err
    assert json.loads(out) == [{"Name": "web-05"}, {"Name": "web-03"}]
    code, out, err = run(
        lab, "(Get-VM | Measure-Object).Count; @(Get-VM -Name web-*).Count; Get-VM | % Name | select -Last 1"
    )
    assert (code, out.split("\r\n")[:-1]) == (0, ["6", "3", "web-05"]), err


def test_convertto_json_writes_enums_as_numbers_unless_already_strings(lab: LabDrivers) -> None:
    code, out, err = run(
        lab, "Get-VM db-01 | Select-Object Name, State, @{n='StateName'; e={[string]$_.State}} | ConvertTo-Json"
    )
    assert code == 0, err
    assert json.loads(out) == {"Name": "db-01", "State": 2, "StateName": "Running"}
    assert '"Name":  "db-01"' in out  # 5.1's two-space indentation after the colon


def test_operators_strings_and_control_flow(lab: LabDrivers) -> None:
    script = """
$vm = Get-VM -Name db-01
$count = @(Get-VM).Count
if ($vm.State -ne 'Running' -or $count -lt 1) { 'unexpected' }
elseif ($vm.Name -match '^db-(\\d+)$' -and -not ($vm.Name -like 'web*')) {
    "database $($Matches[1]) of $count is $($vm.State)"
}
else { 'never' }
foreach ($name in 'db-01', 'DB-01', 'web-09') {
    if (@(Get-VM).Name -contains $name) { "$name found" } else { "$name missing" }
}
$total = 0
foreach ($i in 1..10) { if ($i % 2) { continue }; $total += $i }
"total=$total; $(2 * 3 + 1); $('a' + 'b'); $([math]::Round(10 / 4, 1)); $(7 -in 1..10); $('x' -ceq 'X')"
"""
    code, out, err = run(lab, script)
    assert code == 0, err
    assert out.split("\r\n")[:-1] == [
        "database 01 of 6 is Running",
        "db-01 found",
        "DB-01 found",
        "web-09 missing",
        "total=30; 7; ab; 2.5; True; False",
    ]


def test_write_host_and_out_string_reach_stdout(lab: LabDrivers) -> None:
    code, out, err = run(
        lab, "Write-Host 'checking' -NoNewline; Write-Host ' done'\n'x' | Out-Null\n(1, 2 | Out-String)"
    )
    assert (code, out) == (0, "checking done\r\n1\r\n2\r\n\r\n"), err


def test_throw_exit_and_error_preference(lab: LabDrivers) -> None:
    code, out, err = run(lab, "Write-Output 'before'\nthrow \"db-01 did not start\"\nWrite-Output 'after'")
    assert (code, out) == (1, "before\r\n")
    assert err.startswith("db-01 did not start")
    assert "+ CategoryInfo          : OperationStopped: (db-01 did not start:String) [], RuntimeException" in err
    assert "+ FullyQualifiedErrorId : db-01 did not start" in err
    code, out, err = run(lab, "Write-Output 'partial'\nexit 7")
    assert (code, out, err) == (7, "partial\r\n", "")
    code, out, err = run(lab, "Get-VM -Name nope\n'still here'; $?; $LASTEXITCODE -eq $null")
    assert (code, out) == (0, "still here\r\nTrue\r\nTrue\r\n")
    assert 'Get-VM : Hyper-V was unable to find a virtual machine with name "nope".' in err
    code, out, _ = run(lab, "Get-VM -Name nope -ErrorAction SilentlyContinue; if (-not $?) { 'failed quietly' }")
    assert (code, out) == (0, "failed quietly\r\n")
    code, out, err = run(lab, "$ErrorActionPreference = 'Stop'\nGet-VM -Name nope\n'not reached'")
    assert (code, out) == (1, "") and "FullyQualifiedErrorId : InvalidParameter," in err
    code, out, err = run(lab, 'try { Get-VM -Name nope -ErrorAction Stop } catch { "caught: $($_.Exception.Message)" }')
    assert (code, out) == (0, 'caught: Hyper-V was unable to find a virtual machine with name "nope".\r\n'), err


def test_computername_reaches_another_lab_host_or_fails_as_unreachable(lab: LabDrivers) -> None:
    code, out, err = run(lab, f"Get-VM -ComputerName {A2} -Name db-02 | Select-Object -ExpandProperty ComputerName")
    assert (code, out) == (0, "HV-A2\r\n"), err
    code, out, err = run(
        lab, "Get-VM -ComputerName localhost, hv-a2 | Select-Object -ExpandProperty Name | Sort-Object"
    )
    assert code == 0, err
    assert out.split("\r\n")[:-1] == sorted(
        f"{t}-0{i}" for t, n in (("app", 4), ("db", 2), ("web", 6)) for i in range(1, n + 1)
    )
    code, out, err = run(lab, "Get-VM -ComputerName hv-z9.example.com")
    assert code == 1 and out == ""
    assert err.startswith("Get-VM : The operation on computer 'hv-z9.example.com' failed: WinRM cannot process")
    assert "+ FullyQualifiedErrorId : Unspecified,Microsoft.HyperV.PowerShell.Commands." in err


@pytest.mark.parametrize(
    ("script", "error_id", "first_line"),
    [
        (
            "Invoke-Sqlcmd -Query 'select 1'",
            "CommandNotFoundException",
            "Invoke-Sqlcmd : The term 'Invoke-Sqlcmd' is not recognized as the name of a cmdlet, function, script "
            "file, or operable program. Check the spelling of the name, or if a path was included, verify that the "
            "path is correct and try again.",
        ),
        ("if ($true) { 'x'", "MissingEndCurlyBrace", "At line:2 char:12"),
        ("function Test-Db { 'x' }", "UnexpectedToken", "At line:2 char:1"),
    ],
)
def test_what_the_lab_does_not_run_fails_as_powershell_does(
    lab: LabDrivers, script: str, error_id: str, first_line: str
) -> None:
    code, out, err = run(lab, script)
    assert code == 1 and out == ""
    assert err.splitlines()[0] == first_line
    assert f"+ FullyQualifiedErrorId : {error_id}" in err
    assert "Lab" not in err


def test_driver_run_script_runs_operator_forms(lab: LabDrivers) -> None:
    host = lab.host(A1)
    result = host.run_script("Get-VM | Where-Object Name -eq db-01 | ForEach-Object { $_.Name }", timeout_s=10)
    assert result.stdout == "db-01\r\n" and result.exit_code == 0


def test_microsoft_example_forms_with_barewords(lab: LabDrivers) -> None:
    # Set-VMNetworkAdapterFailoverConfiguration's example form: IP addresses as unquoted arguments.
    code, _, err = run(
        lab,
        "Set-VMNetworkAdapterFailoverConfiguration app-01 -IPv4Address 10.2.0.21 -IPv4SubnetMask 255.255.255.0 "
        "-IPv4DefaultGateway 10.2.0.1",
    )
    assert code == 0, err
    code, out, err = run(
        lab,
        "Get-VMNetworkAdapterFailoverConfiguration app-01 | "
        'ForEach-Object { "$($_.IPv4Address)/$($_.IPv4DefaultGateway)" }',
    )
    assert (code, out) == (0, "10.2.0.21/10.2.0.1\r\n"), err
    # Get-VMReplication's example shape, with the lab's names: a script block filter and a list view.
    code, out, err = run(lab, "Get-VMReplication | Where-Object {$_.PrimaryServer -like 'hv-a1*'} | Format-List VMName")
    assert code == 0, err
    assert out == "\r\nVMName : db-01\r\n\r\n\r\n"
