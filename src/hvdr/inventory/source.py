"""Read a topology file keeping where each value stands, so every problem is reported as file:line.

The file is parsed once (``hvdr.yamlfile``: repeated keys, deep nesting, alias bombs and lone surrogates are
refused in milliseconds), and bytes that are not UTF-8 are reported with their line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hvdr.display import escape_controls
from hvdr.yamlfile import YAMLRefused, decode_utf8, load_yaml


@dataclass
class Problem:
    """One thing wrong with a topology file."""

    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return escape_controls(f"{where}: {self.message}")


@dataclass
class LineMap:
    """The line (1-based) of every mapping key and sequence item of a YAML document, by path."""

    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of the deepest prefix of ``path`` that exists in the document."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)


def _walk(node: yaml.Node, path: tuple[str | int, ...], out: dict[tuple[str | int, ...], int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = (*path, str(key_node.value))
                out[child] = key_node.start_mark.line + 1
                _walk(value_node, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            out[child] = item.start_mark.line + 1
            _walk(item, child, out)


class TopologySourceError(Exception):
    """The file cannot be read or is not YAML; carries the problem with its line."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def read_yaml(path: Path) -> tuple[Any, LineMap]:
    """Parse a YAML file into plain data and the line of every element."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TopologySourceError(Problem(str(path), None, f"cannot read: {exc.strerror or exc}")) from exc
    try:
        text = decode_utf8(raw)
    except YAMLRefused as exc:
        raise TopologySourceError(Problem(str(path), exc.line, exc.message)) from exc
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str) -> tuple[Any, LineMap]:
    """Parse YAML text once into plain data and the line of every element."""
    try:
        node, data = load_yaml(text)
    except YAMLRefused as exc:
        raise TopologySourceError(Problem(source, exc.line, exc.message)) from exc
    lines: dict[tuple[str | int, ...], int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, LineMap(lines)
