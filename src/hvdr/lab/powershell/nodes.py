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
    """A quoted string without expansion, a number, or ``$true``/``$false``/``$null``."""

    value: Any


@dataclass(frozen=True)
class Bareword(Node):
    """An unquoted word in argument mode (``db-01``, ``C:\\VMs``, ``10.2.0.11``): a string."""

    value: str


@dataclass(frozen=True)
class ExpandableString(Node):
    """``"text $x $($y.Name)"``: literal text and expressions whose values are converted to strings."""

    parts: tuple[str | Expr, ...]


@dataclass(frozen=True)
class Variable(Node):
    """``$name``; ``_`` is the pipeline variable (``$PSItem`` too), ``env:NAME`` an environment variable."""

    name: str


@dataclass(frozen=True)
class Member(Node):
    target: Expr
    name: str


@dataclass(frozen=True)
class MethodCall(Node):
    target: Expr
    name: str
    arguments: tuple[Expr, ...]


@dataclass(frozen=True)
class Index(Node):
    target: Expr
    index: Expr


@dataclass(frozen=True)
class TypeLiteral(Node):
    """``[string]`` on its own (``-is [string]``) or before ``::`` (``[math]::Round``)."""

    type_name: str


@dataclass(frozen=True)
class StaticMember(Node):
    type_name: str
    name: str
    arguments: tuple[Expr, ...] | None
    """None for a property (``[datetime]::UtcNow``), a tuple for a method call."""


@dataclass(frozen=True)
class Cast(Node):
    type_name: str
    operand: Expr


@dataclass(frozen=True)
class Unary(Node):
    """``-not x``, ``!x``, ``-x``, ``+x``, ``-join x``, ``-split x``."""

    operator: str
    operand: Expr


@dataclass(frozen=True)
class Binary(Node):
    """``left -op right``; ``operator`` is lower-case without the dash (``eq``, ``ceq``, ``+``, ``and``)."""

    operator: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class ArrayList(Node):
    """``a, b, c``: the comma operator (argument mode or expression mode)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class ArraySubexpression(Node):
    """``@( statements )``: every object the statements write, always as an array."""

    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class Subexpression(Node):
    """``$( statements )``: what the statements write, one object as itself."""

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
    Literal
    | Bareword
    | ExpandableString
    | Variable
    | Member
    | MethodCall
    | Index
    | TypeLiteral
    | StaticMember
    | Cast
    | Unary
    | Binary
    | ArrayList
    | ArraySubexpression
    | Subexpression
    | HashLiteral
    | ScriptBlock
    | Paren
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
    redirections: tuple[tuple[str, str], ...] = ()
    """(stream, target): ``2>$null`` is ("2", "null"), ``*>$null`` ("*", "null"), ``2>&1`` ("2", "1")."""


@dataclass(frozen=True)
class Pipeline(Node):
    elements: tuple[Command | Expr, ...]


@dataclass(frozen=True)
class Assignment(Node):
    """``$x = …`` or ``$x += …`` (``operator`` is ``=``, ``+=``, ``-=``, ``*=``, ``/=``)."""

    variable: str
    pipeline: Pipeline
    operator: str = "="


@dataclass(frozen=True)
class If(Node):
    clauses: tuple[tuple[Pipeline, tuple[Statement, ...]], ...]
    otherwise: tuple[Statement, ...] | None


@dataclass(frozen=True)
class Foreach(Node):
    variable: str
    collection: Pipeline
    body: tuple[Statement, ...]


@dataclass(frozen=True)
class Try(Node):
    body: tuple[Statement, ...]
    catches: tuple[tuple[tuple[str, ...], tuple[Statement, ...]], ...]
    """(exception type names — empty catches everything, body) in order."""
    finally_body: tuple[Statement, ...] | None


@dataclass(frozen=True)
class Exit(Node):
    code: Expr | None


@dataclass(frozen=True)
class Throw(Node):
    value: Expr | None


@dataclass(frozen=True)
class Return(Node):
    value: Pipeline | None


@dataclass(frozen=True)
class LoopControl(Node):
    """``break`` or ``continue`` (``keyword``)."""

    keyword: str


Statement = Pipeline | Assignment | If | Foreach | Try | Exit | Throw | Return | LoopControl


@dataclass(frozen=True)
class Script:
    text: str
    statements: tuple[Statement, ...]
    features: frozenset[str]
