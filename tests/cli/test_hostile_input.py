"""The CLI with hostile names, terminals and settings: text is shown as text, secrets stay masked, nothing is lost."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hvdr.cli.common import OutputFormat, columns, emit, guarded
from hvdr.cli.main import app
from hvdr.inventory.db import session_for
from hvdr.inventory.tables import VMRow
from hvdr.settings import load_settings
from tests.cli.helpers import hvdr

# C0 (but newline), DEL and C1: what can move a terminal's cursor, clear it or change its colours.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")

TOPOLOGY = """\
sites: [{{name: a}}]
hosts: [{{fqdn: hv1.a.example, site: a}}]
vms:
  - {{name: {name}, host: hv1.a.example}}
"""


@pytest.fixture
def home(tmp_path: Path, hvdr_home: Path) -> dict[str, str]:
    return {"HVDR_HOME": str(tmp_path / "home")}


def _topology(tmp_path: Path, name: str) -> str:
    file = tmp_path / "topology.yaml"
    file.write_text(TOPOLOGY.format(name=json.dumps(name)), encoding="utf-8")
    return str(file)


def test_a_name_that_looks_like_markup_is_applied_and_printed_as_it_is(tmp_path: Path, home: dict[str, str]) -> None:
    runner = CliRunner()
    applied = runner.invoke(app, ["apply", "-f", _topology(tmp_path, "vm[/]x [bold red]y[/] :smile:")], env=home)
    assert applied.exit_code == 0, applied.output
    assert "+ VM vm[/]x [bold red]y[/] :smile:" in applied.stdout
    listed = runner.invoke(app, ["vms", "-o", "json"], env=home)
    assert [v["name"] for v in json.loads(listed.stdout)] == ["vm[/]x [bold red]y[/] :smile:"]
    table = CliRunner().invoke(app, ["vms"], env={**home, "COLUMNS": "300"})
    assert table.exit_code == 0 and "vm[/]x [bold red]y[/] :smile:" in table.stdout


def test_a_name_cannot_forge_a_line_or_drive_the_terminal(tmp_path: Path, home: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["apply", "-f", _topology(tmp_path, "ok\n- VM everything deleted\x1b[2J")], env=home
    )
    assert result.exit_code == 2
    assert not CONTROL.search(result.output)
    assert not any(line.startswith("- VM everything deleted") for line in result.output.splitlines())
    assert "'\\n' (a control character): control characters are not allowed here" in result.stderr
    assert CliRunner().invoke(app, ["vms", "-o", "json"], env=home).stdout.strip() == "[]"


def test_an_error_naming_a_file_prints_the_name_as_text(tmp_path: Path, home: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["apply", "-f", str(tmp_path / "[red]x[/]\x1b[31m.yaml")], env=home)
    assert result.exit_code == 2
    assert "[red]x[/]\\x1b[31m.yaml: cannot read" in result.stderr and not CONTROL.search(result.stderr)


def test_an_ascii_terminal_gets_escapes_not_a_crash_after_the_commit(tmp_path: Path) -> None:
    env = {"HVDR_HOME": str(tmp_path / "home"), "PYTHONIOENCODING": "ascii"}
    applied = hvdr("apply", "-f", _topology(tmp_path, "Zürich-01 ☃"), env=env)
    assert applied.code == 0, applied.err
    assert "+ VM Z\\xfcrich-01 \\u2603" in applied.out
    assert json.loads(hvdr("vms", "-o", "json", env=env).out)[0]["name"] == "Zürich-01 ☃"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://hvdr:hunter2@db.example:notaport/hvdr",
        "mysql+nothing://admin:hunter2@db.example/hvdr",
        "postgresql://hvdr:hunter2@[::1/hvdr",
    ],
)
def test_a_bad_database_url_never_shows_its_password(url: str, home: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["sites"], env={**home, "HVDR_DATABASE_URL": url})
    assert result.exit_code == 2, result.output
    assert "hunter2" not in result.output
    assert ":***@db.example" in result.stderr or ":***@[::1" in result.stderr


def test_an_internal_error_is_shown_escaped_and_masked() -> None:
    @guarded
    def broken() -> None:
        raise RuntimeError("cannot reach postgresql://svc:hunter2@db/x\x1b[2J\nsecond line")

    command = typer.Typer()
    command.command()(broken)
    result = CliRunner().invoke(command, [])
    assert result.exit_code == 70
    assert result.stderr.startswith(
        "error: internal error: RuntimeError: cannot reach postgresql://svc:***@db/x\\x1b[2J"
    )
    assert "hunter2" not in result.stderr and not CONTROL.search(result.stderr)


def test_read_commands_never_print_infinity_or_controls_from_the_database(
    tmp_path: Path, home: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in home.items():
        monkeypatch.setenv(key, value)
    with session_for(load_settings()) as session:  # as an older hvdr, or discovery, could have stored them
        session.add(VMRow(name="vm\x1b[31m\x85", host="h", spec={"name": "vm\x1b[31m\x85", "memory_gb": float("inf")}))
    runner = CliRunner()
    as_json = runner.invoke(app, ["vms", "-o", "json"], env=home)
    assert as_json.exit_code == 0 and "Infinity" not in as_json.stdout
    row = json.loads(as_json.stdout, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))[0]
    assert row["memory_gb"] == "inf" and row["name"] == "vm\x1b[31m\x85"
    for fmt in ("table", "yaml"):
        shown = runner.invoke(app, ["vms", "-o", fmt], env={**home, "COLUMNS": "300"})
        assert shown.exit_code == 0 and not CONTROL.search(shown.stdout), shown.stdout


def test_emit_escapes_host_text_in_tables_and_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"name": "a\x1b]0;owned\x07", "message": "line\nforged"}]
    emit(rows, ["name", "message"], OutputFormat.table)
    emit(rows, [], OutputFormat.yaml)
    out = capsys.readouterr().out
    assert "a\\x1b]0;owned\\x07" in out and "line\\nforged" in out and not CONTROL.search(out)


def test_a_reader_that_goes_away_after_the_commit_loses_nothing(
    tmp_path: Path, home: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hvdr.cli import common

    def closed_pipe(*_args: object, **_kwargs: object) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    with monkeypatch.context() as patched:
        patched.setattr(common.console, "print", closed_pipe)
        applied = CliRunner().invoke(app, ["apply", "-f", _topology(tmp_path, "vm-01")], env=home)
    assert applied.exit_code == 0 and applied.stderr == ""
    listed = CliRunner().invoke(app, ["vms", "-o", "json"], env=home)
    assert [v["name"] for v in json.loads(listed.stdout)] == ["vm-01"]


def test_log_lines_escape_host_text_and_mask_passwords() -> None:
    import logging
    import sys

    from hvdr.display import SafeLogFormatter

    formatter = SafeLogFormatter("%(levelname)s %(name)s: %(message)s")
    said = "\x1b[2Jdisk full\nWARNING hvdr: all replicas deleted (via https://svc:hunter2@hv1/wsman)"
    record = logging.LogRecord("hvdr.worker", logging.WARNING, __file__, 1, "host said %s", (said,), None)
    assert formatter.format(record) == (
        "WARNING hvdr.worker: host said \\x1b[2Jdisk full\\nWARNING hvdr: all replicas deleted "
        "(via https://svc:***@hv1/wsman)"
    )
    try:
        raise RuntimeError("boom \x1b[31m postgresql://u:hunter2@db/x")
    except RuntimeError:
        failed = logging.LogRecord("hvdr", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    shown = formatter.format(failed)
    assert "Traceback" in shown and "boom \\x1b[31m postgresql://u:***@db/x" in shown
    assert not CONTROL.search(shown) and "hunter2" not in shown


@pytest.mark.parametrize("command", ["runs", "reports"])
def test_an_unknown_run_kind_is_refused_with_the_kinds_there_are(command: str, home: dict[str, str]) -> None:
    """It listed nothing and exited 0 — as if there were no such runs. Refused before Temporal is asked (none runs
    here), naming the kinds."""
    result = CliRunner().invoke(app, [command, "--kind", "failovr"], env=home)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        "error: unknown run kind 'failovr': use one of check, discovery, drill, failback, failover, monitor, ping, "
        "plan, plan-dry-run, protection, reverse, testfailover"
    )


def test_columns_keep_one_line_per_row_aligned_and_show_names_as_text() -> None:
    """`hvdr status` of 1,000 VMs printed a boxed table whose cells wrapped over several lines (a grep found
    fragments) and took a second to lay out; it prints aligned columns, one line per VM."""
    rows = [["db-01", "Replicating", None], ["[bold]x[/bold]\x1b[2J", "Критично", "critical: RPO 1200 s"]]
    text = columns(["VM", "STATE", "ALERTS"], rows, [None, "red"])
    lines = text.plain.split("\n")
    assert lines[0] == "VM" + " " * 21 + "STATE        ALERTS"
    assert lines[1] == "db-01" + " " * 18 + "Replicating"
    assert lines[2] == "[bold]x[/bold]\\x1b[2J  Критично     critical: RPO 1200 s"
    assert not CONTROL.search(text.plain)
    assert lines[2].index("Критично") == lines[1].index("Replicating") == lines[0].index("STATE")
