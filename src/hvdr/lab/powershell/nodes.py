"""The syntax tree of the lab's PowerShell subset (see GRAMMAR.md).

Every node keeps ``start``/``end`` offsets into the script so runtime errors can print PowerShell's
``At line:L char:C`` position block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Node:
    start: int
    end: int


@dataclass(frozen=True)
class Literal(Node):
    """A single-quoted string, an integer, or ``$true``/``$false``/``$null``."""

    value: Any


@dataclass(frozen=True)
class Bareword(Node):
    """An unquoted word in argument mode (``Select-Object -Property Name``): a string."""

    value: str


@dataclass(frozen=True)
class Variable(Node):
    name: str


@dataclass(frozen=True)
class Member(Node):
    target: Expr
    name: str


@dataclass(frozen=True)
class Cast(Node):
    type_name: str
    operand: Expr


@dataclass(frozen=True)
class ArrayList(Node):
    """``a, b, c``: the comma operator (argument mode or expression mode)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class ArraySubexpression(Node):
    """``@( statements )``: every object the statements write, always as an array."""

    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class HashLiteral(Node):
    entries: tuple[tuple[str, Pipeline], ...]


@dataclass(frozen=True)
class ScriptBlock(Node):
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class Paren(Node):
    pipeline: Pipeline


Expr = (
    Literal | Bareword | Variable | Member | Cast | ArrayList | ArraySubexpression | HashLiteral | ScriptBlock | Paren
)


@dataclass(frozen=True)
class Parameter(Node):
    """``-Name``, ``-Name value`` or ``-Name:value``; ``value`` None means "not given here"."""

    name: str
    value: Expr | None
    colon: bool


@dataclass(frozen=True)
class Command(Node):
    name: str
    elements: tuple[Parameter | Expr, ...]


@dataclass(frozen=True)
class Pipeline(Node):
    elements: tuple[Command | Expr, ...]


@dataclass(frozen=True)
class Assignment(Node):
    variable: str
    pipeline: Pipeline


@dataclass(frozen=True)
class Exit(Node):
    code: Expr | None


@dataclass(frozen=True)
class Throw(Node):
    value: Expr | None


Statement = Pipeline | Assignment | Exit | Throw


@dataclass(frozen=True)
class Script:
    text: str
    statements: tuple[Statement, ...]
    features: frozenset[str]
