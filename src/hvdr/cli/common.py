"""What every CLI command shares: consoles, output formats, the one way to print text and the one way to fail.

User text (names, host messages, errors) is never rich markup and never raw terminal bytes: the consoles
interpret no markup, and every line and table cell goes through ``text`` / ``say`` / ``cell``, which escape
control characters and mask URL credentials. The streams replace what the terminal cannot encode
(``backslashreplace``), so printing cannot fail on an ASCII-only terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import json
import math
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
import yaml
from pydantic import BaseModel
from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.text import Text

from hvdr.display import shown
from hvdr.errors import HvdrError

P = ParamSpec("P")
R = TypeVar("R")

console = Console(markup=False, emoji=False, highlight=False)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)

Part = object | tuple[object, str]
"""A piece of a printed line: any value (shown as safe text), or (value, rich style)."""


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


def tolerant_streams() -> None:
    """Let stdout / stderr write what their encoding cannot hold as escapes instead of raising."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def text(*parts: Part) -> Text:
    """A line of user-visible text: every part escaped (never markup); ``(value, style)`` parts are styled."""
    line = Text()
    for part in parts:
        if isinstance(part, tuple):
            line.append(shown(part[0]), style=part[1])
        else:
            line.append(shown(part))
    return line


def cell(value: Any) -> Text:
    """A table cell: a value shown as safe text (None as empty)."""
    return Text("" if value is None else shown(value))


def columns(headers: Sequence[str], rows: Sequence[Sequence[Any]], styles: Sequence[str | None] = ()) -> Text:
    """Rows as aligned columns under upper-case headers, one line per row (as ``kubectl get`` prints them): a line
    greps whole, long lines are left to the terminal, and a thousand rows print in a few hundredths of a second
    where a rich Table measured and wrapped every cell for about a second. Values are shown as safe text;
    ``styles`` colours whole rows. Every table hvdr prints is made here."""
    headers = [h.replace("_", " ").upper() for h in headers]
    shown_rows = [[cell(value).plain for value in row] for row in rows]
    widths = [max([cell_len(h), *(cell_len(r[i]) for r in shown_rows)]) for i, h in enumerate(headers)]
    lines = Text()
    lines.append("  ".join(set_cell_size(h, w) for h, w in zip(headers, widths, strict=True)).rstrip(), "bold")
    for index, row in enumerate(shown_rows):
        style = styles[index] if index < len(styles) else None
        lines.append("\n")
        lines.append("  ".join(set_cell_size(v, w) for v, w in zip(row, widths, strict=True)).rstrip(), style)
    return lines


def say(*parts: Part, err: bool = False) -> None:
    """Print one line of text made of ``parts`` (see ``text``) to stdout, or stderr with ``err``."""
    tolerant_streams()
    (err_console if err else console).print(text(*parts), soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error to stderr (one line; a list of problems, one per line) and exit non-zero."""
    lines = message.split("\n")
    say(("error:", "bold red"), " ", lines[0], err=True)
    for line in lines[1:]:
        say(line, err=True)
    raise typer.Exit(code)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no Infinity / NaN: a reader's parser would refuse the whole document
    return value


class _SafeDumper(yaml.SafeDumper):
    """Writes strings holding control characters double-quoted, where YAML escapes them (``"\\e"``)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if shown(value) != value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_SafeDumper.add_representer(str, _represent_str)


def emit(rows: Sequence[Any] | BaseModel, columns: Sequence[str], fmt: OutputFormat, title: str | None = None) -> None:
    """Print models or dicts as a table (the chosen columns) or as complete JSON / YAML documents.

    A single model prints as one JSON / YAML object; a sequence as a list.
    """
    tolerant_streams()
    data = _plain(rows if isinstance(rows, BaseModel) else list(rows))
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(data, indent=2, default=str, allow_nan=False))
        return
    if fmt is OutputFormat.yaml:
        typer.echo(yaml.dump(data, Dumper=_SafeDumper, sort_keys=False, allow_unicode=True), nl=False)
        return
    if isinstance(data, dict):
        data = [data]
    print_columns(columns, [[row.get(c) for c in columns] for row in data], title=title)


def print_columns(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], styles: Sequence[str | None] = (), title: str | None = None
) -> None:
    """A title line (when given), then :func:`columns`."""
    if title:
        console.print(Text(shown(title), style="bold"), soft_wrap=True)
    console.print(columns(headers, rows, styles), soft_wrap=True)


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn hvdr's errors into a one-line message and exit code; a bug says how to see its traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except HvdrError as exc:
            fail(exc.message, exc.exit_code)
        except BrokenPipeError:
            # Whoever read the output went away (`hvdr vms | head`): what was done is done and there is
            # no one left to tell; exit quietly, with nothing more written to the closed pipe.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except KeyboardInterrupt:
            say("interrupted", err=True)
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
