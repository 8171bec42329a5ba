"""Every command and sub-command explains itself."""

from __future__ import annotations

from typer.main import get_command
from typer.testing import CliRunner

from hvdr.cli.main import app


def _paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _paths(sub, (*prefix, name))
    return paths


def test_every_command_has_help() -> None:
    runner = CliRunner()
    paths = _paths(get_command(app))
    assert ("server", "start") in paths and ("ping",) in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
        command = get_command(app)
        for part in path:
            command = command.commands[part]  # type: ignore[attr-defined]
        assert (command.help or "").strip(), f"hvdr {' '.join(path)} has no help text"


def test_unknown_command_fails_without_traceback() -> None:
    result = CliRunner().invoke(app, ["frobnicate"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output
    assert "Traceback" not in result.output
