"""What every CLI command shares: consoles, output formats and the one way to fail."""

from __future__ import annotations

import asyncio
import enum
import functools
import json
import os
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
import yaml
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from hvdr.errors import HvdrError

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error to stderr and exit non-zero. Never a traceback."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def emit(rows: Sequence[Any] | BaseModel, columns: Sequence[str], fmt: OutputFormat, title: str | None = None) -> None:
    """Print models or dicts as a table (the chosen columns) or as complete JSON / YAML documents.

    A single model prints as one JSON / YAML object; a sequence as a list.
    """
    data = _plain(rows if isinstance(rows, BaseModel) else list(rows))
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    if fmt is OutputFormat.yaml:
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)
        return
    if isinstance(data, dict):
        data = [data]
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in data:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn hvdr's errors into a one-line message and exit code; a bug says how to see its traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except HvdrError as exc:
            fail(exc.message, exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as exc:
            if os.environ.get("HVDR_DEBUG"):
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            fail(f"internal error: {type(exc).__name__}: {first} (set HVDR_DEBUG=1 to see the traceback)", 70)

    return wrapper


def run_async(coro: Coroutine[Any, Any, R]) -> R:
    """Run a coroutine for a command."""
    return asyncio.run(coro)
