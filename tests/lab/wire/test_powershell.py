"""The PowerShell subset: what parses, what is refused, and what running it produces."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import winrm

from hvdr.lab.powershell import ParseError, convert_to_json, decode_command_line, parse, run_script
from hvdr.lab.powershell.commandline import CommandLineError
from hvdr.lab.seam import PSCustomObject
from tests.lab.wire.fakes import FakeHost, VMState

PROLOGUE = "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'\n"


def run(script: str, host: FakeHost | None = None) -> tuple[int, str, str]:
    out: list[str] = []
    result = run_script(host or FakeHost(), script, write_stdout=out.append)
    return result.exit_code, "".join(out), result.stderr


def clean(stderr: str) -> str:
    """What pywinrm's Session.run_ps makes of a CLIXML stderr."""
    return winrm.Session("127.0.0.1", auth=("u", "p"))._clean_error_msg(stderr.encode()).decode()


# -- parsing -----------------------------------------------------------------------------------------


def test_quotes_are_doubled_and_nothing_expands() -> None:
    script = parse("Write-Output 'it''s $(rm) \"x\" Привет'")
    code, out, _ = run("Write-Output 'it''s $(rm) \"x\" Привет'")
    assert code == 0 and out == 'it\'s $(rm) "x" Привет\r\n'
    assert {"quote-escape", "single-quoted-string", "command"} <= script.features


def test_typographic_single_quotes_end_and_escape_strings() -> None:
    code, out, _ = run("Write-Output 'a\u2019\u2019b'")
    assert (code, out) == (0, "a\u2019b\r\n")
    with pytest.raises(ParseError):
        parse("Write-Output 'a\u2019b'")


@pytest.mark.parametrize(
    ("script", "error_id"),
    [
        ("$a = [regex]'x'", "TypeNotFound"),
        ("Get-VM -Name 'x", "TerminatorExpectedAtEndOfString"),
        ('Get-VM -Name "x', "TerminatorExpectedAtEndOfString"),
        ("$a = @(Get-VM", "MissingEndParenthesisInExpression"),
        ("$a = { Get-VM", "MissingEndCurlyBrace"),
        ("if ($true) { 'x'", "MissingEndCurlyBrace"),
        ("if ($true) 'x'", "MissingStatementBlock"),
        ("try { Get-VM }", "MissingCatchOrFinally"),
        ("foreach ($vm Get-VM) { }", "MissingInInForeach"),
        ("Get-VM | $x", "ExpressionsMustBeFirstInPipeline"),
        ("Get-VM |", "EmptyPipeElement"),
        ("$a = 1 -eq", "ExpectedValueExpression"),
        ("$a = 1 -bogus 2", "UnexpectedToken"),
        ("function Get-Thing { 'x' }", "UnexpectedToken"),
        ("while ($true) { }", "UnexpectedToken"),
        ("$a = $b.", "UnexpectedToken"),
    ],
)
def test_outside_the_subset_is_a_parse_error(script: str, error_id: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(script)
    assert caught.value.error_id == error_id
    code, out, stderr = run(script)
    assert code == 1 and out == ""
    text = clean(stderr)
    assert "+ CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException" in text
    assert f"+ FullyQualifiedErrorId : {error_id}" in text
    assert text.startswith("At line:1 char:")


def test_parameter_forms() -> None:
    host = FakeHost()
    code, _, stderr = run("Stop-VM -Name 'web-01' -TurnOff -Force:$true -Confirm:$false", host)
    assert code == 0, stderr
    assert host.calls[-1].named == [("Name", "web-01"), ("TurnOff", True), ("Force", True), ("Confirm", False)]


# -- evaluation --------------------------------------------------------------------------------------


def test_select_object_calculated_properties_and_json() -> None:
    script = PROLOGUE + (
        "ConvertTo-Json -InputObject @(Get-VM | Select-Object -Property Name,"
        "@{n='Id';e={[string]$_.Id}},@{name='State';expression={[string]$_.State}},State,"
        "@{n='Up';e={[int]$_.Uptime.TotalSeconds}},Uptime,CreationTime) -Depth 3 -Compress"
    )
    code, out, stderr = run(script)
    assert code == 0 and stderr == ""
    data = json.loads(out)
    assert [d["Name"] for d in data] == ["web-01", "db-01"]
    first = data[0]
    assert first["Id"] == str(uuid.uuid5(uuid.NAMESPACE_DNS, "web-01"))
    assert first["State"] == 2  # the un-cast property: an enum is its integer in 5.1
    assert first["Up"] == 3605
    assert first["Uptime"]["TotalSeconds"] == 3605 and first["Uptime"]["Hours"] == 1
    assert first["CreationTime"] == "/Date(1704164645000)/"
    assert '"\\/Date(1704164645000)\\/"' in out


def test_member_enumeration_casts_and_pscustomobject() -> None:
    script = PROLOGUE + (
        "$vms = Get-VM\n"
        "$o = [pscustomobject]@{Names=$vms.Name; Count=$vms.Count; G=([guid]'6F0E1B0C-0000-4000-8000-000000000001');"
        " T=([datetime]'2025-03-04T05:06:07Z'); S=[string]$null; A=@(1,2)}\n"
        "ConvertTo-Json -InputObject $o -Compress"
    )
    code, out, stderr = run(script)
    assert code == 0, stderr
    assert json.loads(out) == {
        "Names": ["web-01", "db-01"],
        "Count": 2,
        "G": "6f0e1b0c-0000-4000-8000-000000000001",
        "T": "/Date(1741064767000)/",
        "S": "",
        "A": [1, 2],
    }


def test_convert_to_json_depth_and_escaping() -> None:
    nested = PSCustomObject(
        {
            "a": PSCustomObject({"b": [1, 2]}),
            "s": "<x & 'y'>",
            "e": VMState.Off,
            "t": timedelta(seconds=90),
            "d": datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
        }
    )
    text = convert_to_json(nested, depth=1, compress=True)
    assert text == (
        '{"a":{"b":"1 2"},"s":"\\u003cx \\u0026 \\u0027y\\u0027\\u003e","e":3,'
        '"t":{"Ticks":900000000,"Days":0,"Hours":0,"Milliseconds":0,"Minutes":1,"Seconds":30,'
        '"TotalDays":0.0010416666666666667,"TotalHours":0.025,"TotalMilliseconds":90000,'
        '"TotalMinutes":1.5,"TotalSeconds":90},"d":"\\/Date(1000)\\/"}'
    )
    assert convert_to_json(PSCustomObject({"a": PSCustomObject({"b": 1})}), depth=0, compress=True) == (
        '{"a":"@{b=1}"}'
    )
    pretty = convert_to_json({"k": [1]}, depth=2)
    assert json.loads(pretty) == {"k": [1]} and '"k":  [' in pretty


def test_cmdlet_error_stops_the_script_and_reads_as_powershell_prints_it() -> None:
    script = PROLOGUE + "Stop-VM -Name 'nope' -Confirm:$false\nWrite-Output 'not reached'"
    code, out, stderr = run(script)
    assert (code, out) == (1, "")
    assert stderr.startswith("#< CLIXML\r\n<Objs ")
    text = clean(stderr)
    lines = text.splitlines()
    assert lines[0] == 'Stop-VM : Hyper-V was unable to find a virtual machine with name "nope".'
    assert lines[1] == "At line:2 char:1"
    assert "+ CategoryInfo          : InvalidArgument: (nope:String) [Stop-VM], VirtualizationException" in text
    assert "+ FullyQualifiedErrorId : InvalidParameter,Microsoft.HyperV.PowerShell.Commands.StopVM" in text


def test_continue_writes_the_error_and_goes_on() -> None:
    # powershell -Command exits with 0 when $? is true after the last statement (PowerShell/PowerShell#13501)
    code, out, stderr = run("Stop-VM -Name 'nope'\nWrite-Output 'after'")
    assert code == 0 and out == "after\r\n"
    assert "FullyQualifiedErrorId : InvalidParameter" in clean(stderr)
    code, out, stderr = run("Write-Output 'before'\nStop-VM -Name 'nope'")
    assert code == 1 and out == "before\r\n"
    assert "FullyQualifiedErrorId : InvalidParameter" in clean(stderr)
    code, out, stderr = run("$ErrorActionPreference = 'SilentlyContinue'\nStop-VM -Name 'nope'\nWrite-Output 'ok'")
    assert (code, out) == (0, "ok\r\n")


def test_unknown_command_throw_and_exit() -> None:
    code, _, stderr = run(PROLOGUE + "Remove-Everything -Force")
    assert code == 1
    text = clean(stderr)
    assert text.startswith("Remove-Everything : The term 'Remove-Everything' is not recognized")
    assert "FullyQualifiedErrorId : CommandNotFoundException" in text
    code, _, stderr = run("throw 'the database did not start'")
    assert code == 1
    assert clean(stderr).splitlines()[0] == "the database did not start"
    assert "OperationStopped: (the database did not start:String) [], RuntimeException" in clean(stderr)
    code, out, stderr = run("Write-Output 'partial'\nexit 7\nWrite-Output 'never'")
    assert (code, out, stderr) == (7, "partial\r\n", "")


def test_progress_record_without_silently_continue() -> None:
    code, _, stderr = run("Get-VM | Out-Null")
    assert code == 0
    assert 'S="progress"' in stderr and "Preparing modules for first use." in stderr
    # pywinrm finds no <S> error lines in a progress-only stderr and leaves it as it is
    assert clean(stderr) == stderr


def test_cmdlet_latency_fault_and_cancellation() -> None:
    host = FakeHost()
    host.faults.cmdlet_latency_s = {"GET-VM": 0.3}
    started = time.monotonic()
    assert run("Get-VM | Out-Null", host)[0] == 0
    assert time.monotonic() - started >= 0.3
    cancelled = threading.Event()
    threading.Timer(0.2, cancelled.set).start()
    started = time.monotonic()
    result = run_script(host, "Start-Sleep -Seconds 30", write_stdout=lambda _: None, cancelled=cancelled)
    assert result.exit_code == 1 and time.monotonic() - started < 5


def test_builtin_parameter_errors() -> None:
    code, _, stderr = run(PROLOGUE + "Get-VM | Select-Object -Frist 1")
    assert code == 1
    assert "FullyQualifiedErrorId : NamedParameterNotFound,Microsoft.PowerShell.Commands.SelectObjectCommand" in (
        clean(stderr)
    )
    code, _, stderr = run(PROLOGUE + "Get-VM | ConvertTo-Json -Depth 101")
    assert code == 1
    assert "ParameterArgumentValidationError,Microsoft.PowerShell.Commands.ConvertToJsonCommand" in clean(stderr)


def test_cast_failure_is_a_runtime_error() -> None:
    code, _, stderr = run(PROLOGUE + "$g = [guid]'not-a-guid'")
    assert code == 1
    assert 'Cannot convert value "not-a-guid" to type "System.Guid"' in clean(stderr)


# -- the command line ----------------------------------------------------------------------------------


def _encode(script: str) -> str:
    import base64

    return base64.b64encode(script.encode("utf-16-le")).decode()


def test_command_line_forms() -> None:
    assert decode_command_line(f"powershell -encodedcommand {_encode('Get-VM')}") == "Get-VM"
    assert (
        decode_command_line("PowerShell.exe", f"-NoProfile -NonInteractive -ExecutionPolicy Bypass -enc {_encode('x')}")
        == "x"
    )
    with pytest.raises(CommandLineError, match="is not recognized as an internal or external command"):
        decode_command_line("cmd /c dir")
    with pytest.raises(CommandLineError, match="not properly encoded"):
        decode_command_line("powershell -EncodedCommand ***")
    with pytest.raises(CommandLineError, match="only 'powershell -EncodedCommand"):
        decode_command_line("powershell -Command Get-VM")


def test_command_line_limits() -> None:
    long_script = "Write-Output '" + "x" * 3100 + "'"
    line = f"powershell -EncodedCommand {_encode(long_script)}"
    assert len(line) > 8191
    with pytest.raises(CommandLineError, match="The command line is too long"):
        decode_command_line(line)
    assert decode_command_line(line, skip_cmd_shell=True) == long_script


def _roundtrip(value: Any) -> Any:
    return json.loads(convert_to_json(value, depth=5, compress=True))


def test_json_of_plain_values() -> None:
    assert _roundtrip([None, True, 1, 2.5, "x", uuid.UUID(int=1)]) == [
        None,
        True,
        1,
        2.5,
        "x",
        "00000000-0000-0000-0000-000000000001",
    ]


# -- the PowerShell operators write (recovery-plan script actions) ------------------------------------


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        # argument mode: barewords and numbers as PowerShell tokenizes them
        (
            "Write-Output db-01 C:\\VMs\\x 10.2.0.11 replica.contoso.com",
            "db-01\r\nC:\\VMs\\x\r\n10.2.0.11\r\nreplica.contoso.com\r\n",
        ),
        (
            "(Write-Output 80) -is [int]; (Write-Output 1.5) -is [double]; (Write-Output 08x) -is [string]",
            "True\r\nTrue\r\nTrue\r\n",
        ),
        ("Write-Output 0x10 2kb -3", "16\r\n2048\r\n-3\r\n"),
        ("$d = 'D:'; Write-Output $d\\Replica \"$d\\x\"", "D:\\Replica\r\nD:\\x\r\n"),
        # comparisons: case-insensitive, -c variants, the left operand's type, arrays filter
        (
            "'ABC' -eq 'abc'; 'ABC' -ceq 'abc'; 10 -gt '9'; '10' -gt 9; 1,2,3,2 -eq 2",
            "True\r\nFalse\r\nTrue\r\nFalse\r\n2\r\n2\r\n",
        ),
        (
            "'web-01' -like 'WEB*'; 'web-01' -notlike 'db*'; 'db-07' -match '(\\d+)$'; $Matches[1]",
            "True\r\nTrue\r\nTrue\r\n07\r\n",
        ),
        (
            "'a','b' -contains 'B'; 'B' -in 'a','b'; 'x' -notin 'a'; 'a,b' -split ','; 1,2 -join '+'",
            "True\r\nTrue\r\nTrue\r\na\r\nb\r\n1+2\r\n",
        ),
        ("$null -eq $x; -not $null; !1; $true -and $false -or $true", "True\r\nTrue\r\nFalse\r\nTrue\r\n"),
        # arithmetic and strings
        (
            "1 + 2 * 3 - 4 / 2; 7 % 3; 'ab' + 1; 'ab' * 2; (1,2) + 3; 5 / 2",
            "5\r\n1\r\nab1\r\nabab\r\n1\r\n2\r\n3\r\n2.5\r\n",
        ),
        (
            "$n = 'db'; \"$n-01 `\"q`\" $($n.Length * 2) $(@(1,2).Count)\"; 'it''s'; '{0}-{1:D2}' -f $n, 3",
            'db-01 "q" 4 2\r\nit\'s\r\ndb-03\r\n',
        ),
        (
            "$h = @{Name='x'; Size=2}; $h.Name; $h['Size']; $a = @(1,2,3); $a[0]; $a[-1]; $a.Count",
            "x\r\n2\r\n1\r\n3\r\n3\r\n",
        ),
        (
            "'  Web  '.Trim().ToUpper(); 'a-b-c'.Split('-')[1]; [math]::Round(2.345, 2); [string]::IsNullOrEmpty('')",
            "WEB\r\nb\r\n2.35\r\nTrue\r\n",
        ),
        # control flow
        ("$i = 5; if ($i -lt 3) { 'low' } elseif ($i -lt 10) { 'mid' } else { 'high' }", "mid\r\n"),
        ("$s = 0; foreach ($i in 1..6) { if ($i -eq 5) { break }; if ($i % 2) { continue }; $s += $i }; $s", "6\r\n"),
        ("try { throw 'boom' } catch { \"caught $_\" } finally { 'finally' }", "caught boom\r\nfinally\r\n"),
        (
            "try { 1/0 } catch [System.DivideByZeroException], [RuntimeException] { $_.FullyQualifiedErrorId }",
            "RuntimeException\r\n",
        ),
        # comments, continuation, here-strings, -Name:value, redirection, $null assignment
        ("# note\nWrite-Output `\n  -InputObject:db-01 <# inline #>", "db-01\r\n"),
        ('$t = @"\nline $(1+1)\n"@\n$t', "line 2\r\n"),
        ("$null = Write-Output 'x'; Write-Output 'y' > $null; [void](Write-Output 'z'); 'done'", "done\r\n"),
    ],
)
def test_operator_script_forms(script: str, expected: str) -> None:
    code, out, stderr = run(script)
    assert (code, out) == (0, expected), clean(stderr) if stderr else ""


def test_pipelines_with_script_blocks_and_simplified_syntax() -> None:
    host = FakeHost(vms=["web-01", "db-01", "db-02"])
    host.vms["db-02"]["State"] = VMState.Off
    code, out, stderr = run("Get-VM | Where-Object {$_.State -eq 'Running'} | Select-Object -ExpandProperty Name", host)
    assert (code, out) == (0, "web-01\r\ndb-01\r\n"), stderr
    code, out, _ = run("Get-VM | Where-Object State -eq Off | ForEach-Object { $PSItem.Name }", host)
    assert out == "db-02\r\n"
    code, out, _ = run("Get-VM | ? Name -like db* | % Name | Sort-Object -Descending | select -First 1", host)
    assert out == "db-02\r\n"
    code, out, _ = run("Get-VM | Select-Object -Last 2 -Property Name, State | ConvertTo-Json -Compress", host)
    assert json.loads(out) == [{"Name": "db-01", "State": 2}, {"Name": "db-02", "State": 3}]
    code, out, _ = run("(Get-VM | Measure-Object).Count; Get-VM | Select-Object -First 1 | Out-String", host)
    assert out.startswith("3\r\n\r\nName ")
    code, out, _ = run('Get-VM | ForEach-Object -Begin { $n = 0 } -Process { $n += 1 } -End { "n=$n" }', host)
    assert out == "n=3\r\n"


def test_error_action_and_status() -> None:
    code, out, stderr = run('Stop-VM -Name nope -ErrorAction SilentlyContinue; "ok=$?"')
    assert (code, out) == (0, "ok=False\r\n") and 'S="Error"' not in stderr
    code, out, _ = run("Stop-VM -Name nope -EA Stop; 'not reached'")
    assert (code, out) == (1, "")
    code, out, _ = run("try { Stop-VM -Name nope -ErrorAction Stop } catch { $_.CategoryInfo.Category }")
    assert (code, out) == (0, "InvalidArgument\r\n")
    code, out, _ = run('Stop-VM -Name nope 2>$null; $Error.Count; Stop-VM -Name nope 2>&1 | % { "$_" }')
    assert out.startswith("1\r\nHyper-V was unable to find a virtual machine")
    code, out, stderr = run("Write-Error 'disk missing'; 'next'")
    assert (code, out) == (0, "next\r\n")
    text = clean(stderr)
    assert text.splitlines()[0] == "Write-Error 'disk missing' : disk missing"
    assert "+ FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException" in text
    code, out, stderr = run("'x'.NoSuchMethod()")
    assert code == 1
    assert "Method invocation failed because [System.String] does not contain a method named 'NoSuchMethod'." in (
        clean(stderr)
    )


def test_positional_and_colon_arguments_reach_the_cmdlet_in_order() -> None:
    host = FakeHost()
    code, _, stderr = run("Get-VM web-01 -Name:db-01 80 10.2.0.11 -Confirm:$false", host)
    assert code == 0, stderr
    call = host.calls[-1]
    assert call.positional == ["web-01", 80, "10.2.0.11"]
    assert call.named == [("Name", "db-01"), ("Confirm", False)]


def test_format_table_and_list_render_text_as_the_console_does() -> None:
    code, out, _ = run("Get-VM | Format-Table -Property Name, State -AutoSize")
    assert (code, out) == (0, "\r\nName   State\r\n----   -----\r\nweb-01 Running\r\ndb-01  Running\r\n\r\n\r\n")
    code, out, _ = run("Get-VM | Select-Object -First 1 | fl Name, State")
    assert (code, out) == (0, "\r\nName  : web-01\r\nState : Running\r\n\r\n\r\n")
