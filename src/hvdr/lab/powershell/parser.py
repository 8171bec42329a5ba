"""A scannerless recursive-descent parser for the lab's PowerShell subset (grammar in GRAMMAR.md).

PowerShell tokenises differently in command (argument) mode and expression mode, so the parser reads
characters directly and knows which mode it is in: in argument mode ``db-01``, ``C:\\VMs``, ``10.2.0.11`` and
``replica.contoso.com`` are strings and ``80`` is a number; in expression mode ``-eq`` is an operator.
What the subset does not run raises :class:`ParseError` with PowerShell's own parser error id.
"""

from __future__ import annotations

import re
from functools import lru_cache

from hvdr.lab.powershell.nodes import (
    ArrayList,
    ArraySubexpression,
    Assignment,
    Bareword,
    Binary,
    Cast,
    Command,
    Exit,
    ExpandableString,
    Expr,
    Foreach,
    HashLiteral,
    If,
    Index,
    Literal,
    LoopControl,
    Member,
    MethodCall,
    Parameter,
    Paren,
    Pipeline,
    Return,
    Script,
    ScriptBlock,
    Statement,
    StaticMember,
    Subexpression,
    Throw,
    Try,
    TypeLiteral,
    Unary,
    Variable,
)

# PowerShell treats the typographic quotes and dashes as their ASCII forms; so must a parser that claims to
# read what PowerShell reads (a name containing U+2019 would otherwise end a string early, and a cmdlet
# example pasted from a web page keeps its en dashes).
SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a\u201b")
DOUBLE_QUOTES = frozenset('"\u201c\u201d\u201e')
DASHES = frozenset("-\u2013\u2014\u2015")
CONSTANTS = {"true": True, "false": False, "null": None}

# Type names a cast or type literal may use, mapped to the evaluator's canonical names.
TYPE_NAMES = {
    "string": "string",
    "system.string": "string",
    "int": "int",
    "int32": "int",
    "system.int32": "int",
    "long": "long",
    "int64": "long",
    "system.int64": "long",
    "double": "double",
    "system.double": "double",
    "decimal": "double",
    "bool": "bool",
    "boolean": "bool",
    "system.boolean": "bool",
    "datetime": "datetime",
    "system.datetime": "datetime",
    "timespan": "timespan",
    "system.timespan": "timespan",
    "guid": "guid",
    "system.guid": "guid",
    "pscustomobject": "pscustomobject",
    "psobject": "object",
    "object": "object",
    "system.object": "object",
    "array": "array",
    "object[]": "array",
    "system.object[]": "array",
    "string[]": "string[]",
    "int[]": "int[]",
    "hashtable": "hashtable",
    "ordered": "hashtable",
    "void": "void",
    "math": "math",
    "system.math": "math",
}
STATIC_ONLY = frozenset({"math"})

LOGICAL_OPS = frozenset({"and", "or", "xor"})
BITWISE_OPS = frozenset({"band", "bor", "bxor"})
_CASED = (
    *("eq", "ne", "gt", "ge", "lt", "le", "like", "notlike", "match", "notmatch"),
    *("contains", "notcontains", "in", "notin", "replace", "split"),
)
COMPARISON_OPS = frozenset(
    {*_CASED, *(f"c{op}" for op in _CASED), *(f"i{op}" for op in _CASED), "is", "isnot", "as", "join"}
)
UNARY_DASH_OPS = frozenset({"not", "bnot", "join", "split"})
ALL_DASH_OPS = LOGICAL_OPS | BITWISE_OPS | COMPARISON_OPS | UNARY_DASH_OPS | {"f"}

KEYWORDS = frozenset({"if", "foreach", "try", "throw", "exit", "return", "break", "continue"})
UNSUPPORTED_KEYWORDS = frozenset(
    {
        "function",
        "filter",
        "workflow",
        "configuration",
        "while",
        "do",
        "for",
        "switch",
        "trap",
        "param",
        "begin",
        "process",
        "end",
        "dynamicparam",
        "class",
        "enum",
        "using",
        "data",
        "until",
        "elseif",
        "else",
        "catch",
        "finally",
        "in",
    }
)
MODULES = frozenset(
    {"hyper-v", "microsoft.powershell.utility", "microsoft.powershell.management", "microsoft.powershell.core"}
)
SCOPES = frozenset({"global", "script", "local", "private", "env"})

_NUMBER = r"(?:0x[0-9a-f]+|(?:\d+\.(?!\.)\d*|\.\d+|\d+)(?:e[+-]?\d+)?)(?:[ld])?(?:kb|mb|gb|tb|pb)?"
_NUMBER_AT = re.compile(_NUMBER, re.IGNORECASE)
_NUMBER_WORD = re.compile(r"[+-]?" + _NUMBER, re.IGNORECASE)
_REDIRECTION = re.compile(r"([1-6*]?)>>?(?:&([12]))?")
_MULTIPLIERS = {"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40, "pb": 1 << 50}
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
# Characters that end an unquoted argument (a generic token) in argument mode.
_ARG_END = frozenset(" \t\r\n;,|&(){}")
_STATEMENT_END = frozenset({"", "\r", "\n", ";", ")", "}"})

# Features the driver's builders use; tests/hyperv/test_contract.py checks that list against the builders.
BUILDER_FEATURES = frozenset(
    {
        "newline-separator",
        "semicolon-separator",
        "assignment",
        "pipe",
        "command",
        "named-parameter",
        "switch-parameter",
        "colon-parameter",
        "single-quoted-string",
        "quote-escape",
        "integer",
        "constant",
        "variable",
        "pipeline-variable",
        "member-access",
        "cast:string",
        "cast:int",
        "cast:datetime",
        "cast:guid",
        "cast:pscustomobject",
        "array-subexpression",
        "hashtable",
        "script-block",
        "paren-expression",
        "comma-list",
        "bareword",
        "expression-statement",
    }
)
# Features only operators' own scripts use (recovery-plan script actions).
OPERATOR_FEATURES = (
    frozenset(
        {
            "positional-argument",
            "exit",
            "throw",
            "return",
            "loop-control",
            "if",
            "foreach",
            "try",
            "comment",
            "line-continuation",
            "double-quoted-string",
            "here-string",
            "subexpression",
            "number",
            "number-argument",
            "expandable-argument",
            "method-call",
            "index",
            "static-member",
            "type-literal",
            "operator",
            "unary-operator",
            "compound-assignment",
            "module-qualified-command",
            "redirection",
            *(f"cast:{name}" for name in set(TYPE_NAMES.values()) - STATIC_ONLY),
        }
    )
    - BUILDER_FEATURES
)
ALL_FEATURES = BUILDER_FEATURES | OPERATOR_FEATURES


class ParseError(Exception):
    """The script is not in the subset; ``error_id`` is PowerShell's parser error id."""

    def __init__(self, message: str, error_id: str, start: int, end: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_id = error_id
        self.start = start
        self.end = start + 1 if end is None else end


def _is_ident_start(ch: str) -> bool:
    return ch.isascii() and (ch.isalpha() or ch == "_")


def _is_ident(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def number_value(text: str) -> int | float:
    """The value of a PowerShell numeric literal (``80``, ``1.5``, ``0x1F``, ``10gb``, ``-3``)."""
    lowered = text.lower()
    sign = -1 if lowered.startswith("-") else 1
    lowered = lowered.lstrip("+-")
    multiplier = 1
    if lowered[-2:] in _MULTIPLIERS:
        multiplier = _MULTIPLIERS[lowered[-2:]]
        lowered = lowered[:-2]
    if lowered.startswith("0x"):
        return sign * int(lowered[2:], 16) * multiplier
    lowered = lowered.rstrip("ld")
    if any(ch in lowered for ch in ".e"):
        value = float(lowered) * multiplier
        return sign * (int(value) if multiplier > 1 and value.is_integer() else value)
    return sign * int(lowered) * multiplier


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.features: set[str] = set()
        self.in_arguments = False
        """True while parsing a method call's arguments, where a comma separates arguments."""

    # -- characters ---------------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.text[i] if i < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def error(self, message: str, error_id: str = "UnexpectedToken", start: int | None = None) -> ParseError:
        return ParseError(message, error_id, self.pos if start is None else start)

    def unexpected(self, where: str = "expression or statement") -> ParseError:
        return self.error(f"Unexpected token '{self._token_text()}' in {where}.")

    def skip_spaces(self) -> None:
        """Spaces, comments and line continuations (a backtick before the newline)."""
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in (" ", "\t", "\f", "\u00a0"):
                self.pos += 1
            elif ch == "`" and self.peek(1) in ("\r", "\n"):
                self.pos += 3 if self.peek(1) == "\r" and self.peek(2) == "\n" else 2
                self.features.add("line-continuation")
            elif ch == "#":
                while self.pos < len(text) and text[self.pos] not in ("\r", "\n"):
                    self.pos += 1
                self.features.add("comment")
            elif ch == "<" and self.peek(1) == "#":
                end = text.find("#>", self.pos + 2)
                if end < 0:
                    raise self.error("Missing the end of a block comment '#>'.", "MissingEndOfComment")
                self.pos = end + 2
                self.features.add("comment")
            else:
                return

    def skip_blank(self) -> None:
        """Spaces and newlines (inside brackets and after operators, where newlines do not end anything)."""
        while True:
            self.skip_spaces()
            if self.peek() in ("\r", "\n"):
                self.pos += 1
            else:
                return

    def at_separator(self) -> bool:
        return self.peek() in ("\n", "\r", ";")

    def read_ident(self) -> str:
        start = self.pos
        while _is_ident(self.peek()):
            self.pos += 1
        return self.text[start : self.pos]

    def _token_text(self) -> str:
        end = self.pos
        while end < len(self.text) and not self.text[end].isspace() and end - self.pos < 30:
            end += 1
        return self.text[self.pos : end] or self.peek()

    def _peek_word(self) -> str:
        """The keyword-like word at the cursor, if what follows it can follow a keyword."""
        end = self.pos
        while end < len(self.text) and _is_ident(self.text[end]):
            end += 1
        nxt = self.text[end] if end < len(self.text) else ""
        if nxt in ("", " ", "\t", "\r", "\n", ";", "}", ")", "(", "{", "'", '"', "$", "#"):
            return self.text[self.pos : end]
        return ""

    def _variable_follows(self) -> bool:
        nxt = self.peek(1)
        return bool(nxt) and (_is_ident_start(nxt) or nxt in "({_?")

    def _dash_op(self) -> str | None:
        """The operator name at a dash (``-eq`` → ``eq``), or None when no operator starts here."""
        if self.peek() not in DASHES or not _is_ident_start(self.peek(1)):
            return None
        end = self.pos + 1
        while end < len(self.text) and _is_ident(self.text[end]):
            end += 1
        return self.text[self.pos + 1 : end].lower()

    # -- statements ---------------------------------------------------------------------------------
    def parse_statements(self, closer: str) -> tuple[Statement, ...]:
        """Statements up to ``closer`` ('' = end of script), separated by newlines or semicolons."""
        opened_at = self.pos - 1
        statements: list[Statement] = []
        while True:
            while True:
                self.skip_spaces()
                ch = self.peek()
                if ch in ("\r", "\n"):
                    self.features.add("newline-separator")
                    self.pos += 1
                elif ch == ";":
                    self.features.add("semicolon-separator")
                    self.pos += 1
                else:
                    break
            if self.at_end():
                if closer:
                    # PowerShell points at the opening brace of a block that never closes
                    raise self.error(*_missing_closer(closer), start=opened_at if closer == "}" else None)
                return tuple(statements)
            if closer and self.peek() == closer:
                return tuple(statements)
            if self.peek() in ")}":
                raise self.unexpected()
            statements.append(self.parse_statement())
            self.skip_spaces()
            if not (self.at_end() or self.at_separator() or (closer and self.peek() == closer)):
                raise self.unexpected()

    def parse_block(self, after: str) -> tuple[Statement, ...]:
        self.skip_blank()
        if self.peek() != "{":
            raise self.error(f"Missing statement block after {after}.", "MissingStatementBlock")
        self.pos += 1
        statements = self.parse_statements("}")
        self.pos += 1
        return statements

    def parse_statement(self) -> Statement:
        start = self.pos
        if self.peek() == "$" and (_is_ident_start(self.peek(1)) or self.peek(1) == "{"):
            save = self.pos
            variable = self.parse_variable()
            self.skip_spaces()
            op = self._assignment_operator()
            if op and isinstance(variable, Variable):
                self.pos += len(op)
                self.skip_blank()
                if variable.name in ("_", "?"):
                    raise self.error(
                        f"Cannot overwrite variable {variable.name} because it is read-only or constant.",
                        "VariableNotWritable",
                        start,
                    )
                self.features.add("assignment" if op == "=" else "compound-assignment")
                pipeline = self.parse_pipeline()
                return Assignment(start, self.pos, variable.name, pipeline, op)
            if op == "=" and isinstance(variable, Literal) and variable.value is None:
                self.pos += 1
                self.skip_blank()
                self.features.add("assignment")
                pipeline = self.parse_pipeline()
                return Assignment(start, self.pos, "null", pipeline, op)
            if op and isinstance(variable, Literal):
                raise self.error(
                    "The assignment expression is not valid. The input to an assignment operator must be "
                    "an object that is able to accept assignments, such as a variable or a property.",
                    "InvalidLeftHandSide",
                    start,
                )
            self.pos = save
        word = self._peek_word().lower()
        if word in KEYWORDS:
            return self.parse_keyword(word, start)
        if word in UNSUPPORTED_KEYWORDS:
            raise self.unexpected()
        return self.parse_pipeline()

    def _assignment_operator(self) -> str:
        ch, nxt = self.peek(), self.peek(1)
        if ch == "=" and nxt != "=":
            return "="
        if ch in "+-*/" and nxt == "=" and ch:
            return ch + "="
        return ""

    def parse_keyword(self, word: str, start: int) -> Statement:
        self.pos += len(word)
        self.skip_spaces()
        if word in ("exit", "throw"):
            code = None if self.peek() in _STATEMENT_END else self.parse_expression()
            self.features.add(word)
            return Exit(start, self.pos, code) if word == "exit" else Throw(start, self.pos, code)
        if word == "return":
            self.features.add("return")
            returned = None if self.peek() in _STATEMENT_END else self.parse_pipeline()
            return Return(start, self.pos, returned)
        if word in ("break", "continue"):
            self.features.add("loop-control")
            return LoopControl(start, self.pos, word)
        if word == "if":
            return self.parse_if(start)
        if word == "foreach":
            return self.parse_foreach(start)
        return self.parse_try(start)

    def _condition(self, keyword: str) -> Pipeline:
        self.skip_blank()
        if self.peek() != "(":
            raise self.error(
                f"Missing '(' after '{keyword}' in {keyword} statement.", "MissingOpenParenthesisInIfStatement"
            )
        self.pos += 1
        self.skip_blank()
        if self.peek() == ")":
            raise self.error(
                f"Missing condition in {keyword} statement after '{keyword} ('.", "IfStatementMissingCondition"
            )
        condition = self.parse_pipeline()
        self.skip_blank()
        if self.peek() != ")":
            raise self.error(
                f"Missing closing ')' after expression in '{keyword}' statement.", "MissingEndParenthesisAfterStatement"
            )
        self.pos += 1
        return condition

    def _next_keyword(self, *words: str) -> str:
        """The next keyword of a compound statement (``else``, ``catch`` …) after blanks, consumed; '' if none."""
        save = self.pos
        self.skip_blank()
        word = self._peek_word().lower()
        if word in words:
            self.pos += len(word)
            return word
        self.pos = save
        return ""

    def parse_if(self, start: int) -> If:
        self.features.add("if")
        clauses = [(self._condition("if"), self.parse_block("if ( condition )"))]
        otherwise = None
        while True:
            word = self._next_keyword("elseif", "else")
            if word == "elseif":
                clauses.append((self._condition("elseif"), self.parse_block("elseif ( condition )")))
            elif word == "else":
                otherwise = self.parse_block("else")
                break
            else:
                break
        return If(start, self.pos, tuple(clauses), otherwise)

    def parse_foreach(self, start: int) -> Foreach:
        self.features.add("foreach")
        self.skip_blank()
        if self.peek() != "(":
            raise self.error("Missing opening '(' after keyword 'foreach'.", "MissingOpenParenthesisAfterKeyword")
        self.pos += 1
        self.skip_blank()
        if self.peek() != "$":
            raise self.error("Missing variable name after foreach.", "MissingVariableNameAfterForeach")
        variable = self.parse_variable()
        if not isinstance(variable, Variable):
            raise self.error("Missing variable name after foreach.", "MissingVariableNameAfterForeach")
        self.skip_blank()
        if self._peek_word().lower() != "in":
            raise self.error("Missing 'in' after variable in foreach loop.", "MissingInInForeach")
        self.pos += 2
        self.skip_blank()
        collection = self.parse_pipeline()
        self.skip_blank()
        if self.peek() != ")":
            raise self.error(
                "Missing closing ')' after expression in 'foreach' statement.", "MissingEndParenthesisAfterForeach"
            )
        self.pos += 1
        body = self.parse_block("foreach ( )")
        return Foreach(start, self.pos, variable.name, collection, body)

    def parse_try(self, start: int) -> Try:
        self.features.add("try")
        body = self.parse_block("try")
        catches: list[tuple[tuple[str, ...], tuple[Statement, ...]]] = []
        finally_body = None
        while self._next_keyword("catch"):
            types: list[str] = []
            while True:
                self.skip_blank()
                if self.peek() != "[":
                    break
                end = self.text.find("]", self.pos)
                if end < 0:
                    raise self.error("Missing ] at end of type token.", "EndSquareBracketExpectedAtEndOfType")
                types.append(self.text[self.pos + 1 : end].strip())
                self.pos = end + 1
                self.skip_blank()
                if self.peek() == ",":
                    self.pos += 1
            catches.append((tuple(types), self.parse_block("catch")))
        if self._next_keyword("finally"):
            finally_body = self.parse_block("finally")
        if not catches and finally_body is None:
            raise self.error("The Try statement is missing its Catch or Finally block.", "MissingCatchOrFinally")
        return Try(start, self.pos, body, tuple(catches), finally_body)

    # -- pipelines ----------------------------------------------------------------------------------
    def parse_pipeline(self) -> Pipeline:
        start = self.pos
        elements: list[Command | Expr] = [self.parse_pipeline_element(first=True)]
        while True:
            self.skip_spaces()
            if self.peek() != "|":
                break
            if self.peek(1) == "|":
                raise self.error(
                    "The token '||' is not a valid statement separator in this version.", "InvalidEndOfLine"
                )
            self.pos += 1
            self.features.add("pipe")
            self.skip_blank()
            if self.peek() in _STATEMENT_END or self.peek() == "|":
                raise self.error("An empty pipe element is not allowed.", "EmptyPipeElement")
            elements.append(self.parse_pipeline_element(first=False))
        return Pipeline(start, self.pos, tuple(elements))

    def _starts_command(self) -> bool:
        ch = self.peek()
        if ch == "" or ch in "$'\"(@[{!0123456789" or ch in SINGLE_QUOTES or ch in DOUBLE_QUOTES:
            return False
        if ch in DASHES or ch == "+":
            nxt = self.peek(1)
            if nxt.isdigit() or nxt in "$(.[@'\"" or self._dash_op() in UNARY_DASH_OPS:
                return False
        return not (ch == "." and self.peek(1).isdigit())

    def parse_pipeline_element(self, *, first: bool) -> Command | Expr:
        if self._starts_command():
            return self.parse_command()
        if not first:
            raise self.error(
                "Expressions are only allowed as the first element of a pipeline.", "ExpressionsMustBeFirstInPipeline"
            )
        self.features.add("expression-statement")
        return self.parse_expression()

    # -- commands -----------------------------------------------------------------------------------
    def parse_command(self) -> Command:
        start = self.pos
        if self.peek() in "&.":
            raise self.unexpected()
        while self.peek() and self.peek() not in _ARG_END and self.peek() not in "'\"$":
            self.pos += 1
        name = self.text[start : self.pos]
        if self.peek() and self.peek() not in _ARG_END:
            raise self.unexpected("command name")
        if "\\" in name:
            module, _, bare = name.rpartition("\\")
            if module.lower() in MODULES and bare:
                self.features.add("module-qualified-command")
                name = bare
        self.features.add("command")
        self.features.add(f"command:{name.lower()}")
        elements: list[Parameter | Expr] = []
        redirections: list[tuple[str, str]] = []
        while True:
            self.skip_spaces()
            ch = self.peek()
            if ch in ("", "\r", "\n", ";", "|", ")", "}"):
                break
            redirection = _REDIRECTION.match(self.text, self.pos)
            if redirection and (ch == ">" or self.peek(1) == ">"):
                redirections.append(self.parse_redirection(redirection))
                continue
            if ch == "&":
                raise self.error(
                    "The ampersand (&) character is not allowed. The & operator is reserved for future "
                    'use; wrap an ampersand in double quotation marks ("&") to pass it as part of a '
                    "string.",
                    "AmpersandNotAllowed",
                )
            if ch in DASHES and (_is_ident_start(self.peek(1)) or self.peek(1) == "?"):
                elements.append(self.parse_parameter())
            else:
                self.features.add("positional-argument")
                elements.append(self.parse_argument())
        return Command(start, self.pos, name, tuple(elements), tuple(redirections))

    def parse_redirection(self, match: re.Match[str]) -> tuple[str, str]:
        """``2>$null``, ``*>$null``, ``>$null``, ``2>&1``: the lab has no file system, so a file target is refused."""
        start = self.pos
        self.pos = match.end()
        self.features.add("redirection")
        stream = match.group(1) or "1"
        if match.group(2):
            return stream, match.group(2)
        self.skip_spaces()
        if self.text.startswith("$null", self.pos) and not _is_ident(self.peek(5)):
            self.pos += 5
            return stream, "null"
        if self.peek() in _STATEMENT_END or self.peek() == "|":
            raise self.error("Missing file specification after redirection operator.", "MissingFileSpecification")
        raise self.error(f"Unexpected token '{self.text[start : self.pos]}' in expression or statement.", start=start)

    def parse_parameter(self) -> Parameter:
        start = self.pos
        self.pos += 1
        name = self.read_ident() or self.text[self.pos : self.pos + 1]
        if name == "?":
            self.pos += 1
        if self.peek() == ":":
            self.pos += 1
            self.features.add("colon-parameter")
            return Parameter(start, self.pos, name, self.parse_argument(), True)
        if self.peek() and self.peek() not in _ARG_END:
            # ``-Name.x`` and the like: PowerShell reads the whole token as an argument string
            self.pos = start
            self.features.add("positional-argument")
            return self.parse_argument()  # type: ignore[return-value]
        self.skip_spaces()
        ch = self.peek()
        if ch in ("", "\r", "\n", ";", "|", ")", "}") or (
            ch in DASHES and (_is_ident_start(self.peek(1)) or self.peek(1) == "?")
        ):
            self.features.add("switch-parameter")
            return Parameter(start, self.pos, name, None, False)
        self.features.add("named-parameter")
        return Parameter(start, self.pos, name, self.parse_argument(), False)

    def parse_argument(self) -> Expr:
        """One command argument, or a comma list of them (``Name,Id,@{...}``)."""
        start = self.pos
        items = [self.parse_argument_item()]
        while True:
            save = self.pos
            self.skip_spaces()
            if self.peek() != ",":
                self.pos = save
                break
            self.pos += 1
            self.skip_blank()
            if self.peek() in _STATEMENT_END or self.peek() == "|":
                raise self.error("Missing argument in parameter list.", "MissingArgument")
            items.append(self.parse_argument_item())
        if len(items) == 1:
            return items[0]
        self.features.add("comma-list")
        return ArrayList(start, self.pos, tuple(items))

    def parse_argument_item(self) -> Expr:
        start = self.pos
        ch = self.peek()
        expr: Expr | None = None
        if ch == "$" or (ch == "@" and self.peek(1) in "({") or ch in "({":
            expr = self.parse_postfix()
        elif ch in SINGLE_QUOTES or ch in DOUBLE_QUOTES:
            expr = self.parse_quoted()
        if expr is not None and (not self.peek() or self.peek() in _ARG_END):
            return expr
        return self.parse_generic(start, [] if expr is None else [expr])

    def parse_generic(self, start: int, parts: list[str | Expr]) -> Expr:
        """A generic token: everything up to a space or one of ``;,|&(){}``, quotes and variables included."""
        buf: list[str] = []
        plain = not parts
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in _ARG_END:
                break
            if ch == "`":
                nxt = self.peek(1)
                if nxt in ("", "\r", "\n"):
                    break
                buf.append(_ESCAPES.get(nxt, nxt))
                self.pos += 2
                plain = False
            elif ch in SINGLE_QUOTES:
                buf.append(str(self.parse_string().value))
                plain = False
            elif ch in DOUBLE_QUOTES or (ch == "$" and self._variable_follows()):
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(self.parse_quoted() if ch in DOUBLE_QUOTES else self.parse_postfix())
                plain = False
            else:
                buf.append(ch)
                self.pos += 1
        if buf:
            parts.append("".join(buf))
        word = self.text[start : self.pos]
        if plain:
            if _NUMBER_WORD.fullmatch(word):
                self.features.add("integer" if word.isdigit() else "number-argument")
                return Literal(start, self.pos, number_value(word))
            self.features.add("bareword")
            return Bareword(start, self.pos, word)
        self.features.add("expandable-argument")
        if all(isinstance(part, str) for part in parts):
            return Literal(start, self.pos, "".join(str(part) for part in parts))
        return ExpandableString(start, self.pos, tuple(parts))

    # -- expressions --------------------------------------------------------------------------------
    def parse_expression(self) -> Expr:
        return self._binary(0)

    # Precedence levels, loosest first: -and/-or/-xor, -band/-bor/-bxor, comparisons, + -, * / %, -f.
    def _binary(self, level: int) -> Expr:
        if level == 6:
            return self.parse_range()
        start = self.pos
        left = self._binary(level + 1)
        while True:
            save = self.pos
            self.skip_spaces()
            op = self._binary_op(level)
            if op is None:
                self.pos = save
                return left
            self.features.add("operator")
            self.skip_blank()
            if self.peek() in _STATEMENT_END or self.peek() == "|":
                raise self.error(
                    f"You must provide a value expression following the '{_show_op(op)}' operator.",
                    "ExpectedValueExpression",
                )
            right = self._binary(level + 1)
            left = Binary(start, self.pos, op, left, right)

    def _binary_op(self, level: int) -> str | None:
        ch = self.peek()
        if level <= 2 or level == 5:
            name = self._dash_op()
            if name is None:
                return None
            group = (LOGICAL_OPS, BITWISE_OPS, COMPARISON_OPS, None, None, {"f"})[level]
            if group is None or name not in group:
                if name not in ALL_DASH_OPS:
                    raise self.error(f"Unexpected token '-{name}' in expression or statement.")
                return None
            self.pos += 1 + len(name)
            return name
        if level == 3 and ch in ("+", *DASHES) and self.peek(1) != "=":
            if ch in DASHES and _is_ident_start(self.peek(1)):
                return None
            self.pos += 1
            return "+" if ch == "+" else "-"
        if level == 4 and ch in ("*", "/", "%") and ch and self.peek(1) != "=":
            self.pos += 1
            return ch
        return None

    def parse_range(self) -> Expr:
        start = self.pos
        left = self.parse_array()
        save = self.pos
        self.skip_spaces()
        if self.peek() == "." and self.peek(1) == ".":
            self.pos += 2
            self.skip_blank()
            self.features.add("operator")
            return Binary(start, self.pos, "..", left, self.parse_array())
        self.pos = save
        return left

    def parse_array(self) -> Expr:
        start = self.pos
        items = [self.parse_unary()]
        if self.in_arguments:
            return items[0]
        while True:
            save = self.pos
            self.skip_spaces()
            if self.peek() != ",":
                self.pos = save
                break
            self.pos += 1
            self.skip_blank()
            items.append(self.parse_unary())
        if len(items) == 1:
            return items[0]
        self.features.add("comma-list")
        return ArrayList(start, self.pos, tuple(items))

    def parse_unary(self) -> Expr:
        start = self.pos
        ch = self.peek()
        if ch == "!":
            self.pos += 1
            self.skip_spaces()
            self.features.add("unary-operator")
            return Unary(start, self.pos, "not", self._unary_operand("!"))
        name = self._dash_op()
        if name in UNARY_DASH_OPS:
            assert name is not None
            self.pos += 1 + len(name)
            self.skip_blank()
            self.features.add("unary-operator")
            return Unary(start, self.pos, name, self._unary_operand("-" + name))
        if name is not None:
            raise self.unexpected()
        if ch in DASHES or ch == "+":
            self.pos += 1
            self.features.add("unary-operator")
            operand = self._unary_operand(ch)
            if (
                isinstance(operand, Literal)
                and isinstance(operand.value, int | float)
                and not isinstance(operand.value, bool)
            ):
                return Literal(start, self.pos, -operand.value if ch != "+" else operand.value)
            return Unary(start, self.pos, "-" if ch != "+" else "+", operand)
        if ch == "[":
            return self.parse_type(start)
        return self.parse_postfix()

    def _unary_operand(self, op: str) -> Expr:
        if self.peek() in _STATEMENT_END or self.peek() in "|,":
            raise self.error(f"Missing expression after unary operator '{op}'.", "MissingExpressionAfterOperator")
        return self.parse_unary()

    def parse_type(self, start: int) -> Expr:
        end = self.text.find("]", self.pos + 1)
        if self.text[self.pos + 1 : end].endswith("["):
            end = self.text.find("]", end + 1)
        if end < 0:
            raise self.error("Missing ] at end of type token.", "EndSquareBracketExpectedAtEndOfType")
        written = self.text[self.pos + 1 : end].strip()
        canonical = TYPE_NAMES.get(written.lower())
        if canonical is None:
            raise self.error(f"Unable to find type [{written}].", "TypeNotFound", start)
        self.pos = end + 1
        if self.peek() == ":" and self.peek(1) == ":":
            self.pos += 2
            name = self.read_ident()
            if not name:
                raise self.error("Missing property name after '::'.", "MissingPropertyName")
            arguments = self._arguments() if self.peek() == "(" else None
            self.features.add("static-member")
            return self._postfix_tail(start, StaticMember(start, self.pos, canonical, name, arguments))
        save = self.pos
        self.skip_spaces()
        if canonical in STATIC_ONLY or self.peek() in _STATEMENT_END or self.peek() in "|,=" or self._dash_op():
            self.pos = save
            self.features.add("type-literal")
            return TypeLiteral(start, self.pos, canonical)
        self.features.add(f"cast:{canonical}")
        return Cast(start, self.pos, canonical, self.parse_unary())

    def _arguments(self) -> tuple[Expr, ...]:
        """``( a, b )`` of a method call."""
        self.pos += 1
        self.skip_blank()
        arguments: list[Expr] = []
        if self.peek() == ")":
            self.pos += 1
            return ()
        while True:
            outer, self.in_arguments = self.in_arguments, True
            try:
                arguments.append(self._binary(0))
            finally:
                self.in_arguments = outer
            self.skip_blank()
            if self.peek() == ",":
                self.pos += 1
                self.skip_blank()
                continue
            if self.peek() != ")":
                raise self.error("Missing ')' in method call.", "MissingEndParenthesisInMethodCall")
            self.pos += 1
            return tuple(arguments)

    def parse_postfix(self) -> Expr:
        start = self.pos
        return self._postfix_tail(start, self.parse_primary())

    def _postfix_tail(self, start: int, expr: Expr) -> Expr:
        while True:
            ch = self.peek()
            if ch == "." and (_is_ident_start(self.peek(1)) or self.peek(1) in SINGLE_QUOTES):
                self.pos += 1
                name = str(self.parse_string().value) if self.peek() in SINGLE_QUOTES else self.read_ident()
                if self.peek() == "(":
                    self.features.add("method-call")
                    expr = MethodCall(start, self.pos, expr, name, self._arguments())
                else:
                    self.features.add("member-access")
                    expr = Member(start, self.pos, expr, name)
            elif ch == "[":
                self.pos += 1
                self.skip_blank()
                if self.peek() == "]":
                    raise self.error("Array index expression is missing or not valid.", "MissingArrayIndexExpression")
                index = self.parse_expression()
                self.skip_blank()
                if self.peek() != "]":
                    raise self.error("Missing ']' after array index expression.", "MissingEndSquareBracket")
                self.pos += 1
                self.features.add("index")
                expr = Index(start, self.pos, expr, index)
            else:
                return expr

    def parse_primary(self) -> Expr:
        outer, self.in_arguments = self.in_arguments, False
        try:
            return self._primary()
        finally:
            self.in_arguments = outer

    def _primary(self) -> Expr:
        start = self.pos
        ch = self.peek()
        if ch in SINGLE_QUOTES or ch in DOUBLE_QUOTES:
            return self.parse_quoted()
        if (ch.isascii() and ch.isdigit()) or (ch == "." and self.peek(1).isdigit()):
            match = _NUMBER_AT.match(self.text, self.pos)
            assert match is not None
            self.pos = match.end()
            if _is_ident(self.peek()):
                raise self.error(f"Unexpected token '{self._token_text()}' in expression or statement.", start=start)
            value = number_value(match.group())
            self.features.add("integer" if match.group().isdigit() else "number")
            return Literal(start, self.pos, value)
        if ch == "$":
            if self.peek(1) == "(":
                self.pos += 2
                statements = self.parse_statements(")")
                self.pos += 1
                self.features.add("subexpression")
                return Subexpression(start, self.pos, statements)
            return self.parse_variable()
        if ch == "@" and self.peek(1) == "(":
            self.pos += 2
            statements = self.parse_statements(")")
            self.pos += 1
            self.features.add("array-subexpression")
            return ArraySubexpression(start, self.pos, statements)
        if ch == "@" and self.peek(1) == "{":
            return self.parse_hashtable()
        if ch == "@" and (self.peek(1) in SINGLE_QUOTES or self.peek(1) in DOUBLE_QUOTES):
            return self.parse_here_string()
        if ch == "(":
            self.pos += 1
            self.skip_blank()
            if self.peek() == ")":
                raise self.error("An expression was expected after '('.", "ExpectedExpression")
            pipeline = self.parse_pipeline()
            self.skip_blank()
            if self.peek() != ")":
                if self.at_end():
                    raise self.error("Missing closing ')' in expression.", "MissingEndParenthesisInExpression")
                raise self.unexpected()
            self.pos += 1
            self.features.add("paren-expression")
            return Paren(start, self.pos, pipeline)
        if ch == "{":
            self.pos += 1
            statements = self.parse_statements("}")
            self.pos += 1
            self.features.add("script-block")
            return ScriptBlock(start, self.pos, statements)
        if ch == "[":
            return self.parse_type(start)
        if ch == "" or ch in _STATEMENT_END:
            raise self.error("An expression was expected after '('.", "ExpectedExpression")
        raise self.unexpected()

    def parse_quoted(self) -> Expr:
        return self.parse_string() if self.peek() in SINGLE_QUOTES else self.parse_expandable()

    def parse_string(self) -> Literal:
        start = self.pos
        self.pos += 1
        parts: list[str] = []
        text = self.text
        while True:
            end = self.pos
            while end < len(text) and text[end] not in SINGLE_QUOTES:
                end += 1
            parts.append(text[self.pos : end])
            self.pos = end
            if self.at_end():
                raise ParseError(
                    "The string is missing the terminator: '.", "TerminatorExpectedAtEndOfString", start, len(text)
                )
            ch = self.peek()
            if self.peek(1) in SINGLE_QUOTES:
                parts.append(ch)
                self.pos += 2
                self.features.add("quote-escape")
                continue
            self.pos += 1
            break
        self.features.add("single-quoted-string")
        return Literal(start, self.pos, "".join(parts))

    def parse_expandable(self) -> Expr:
        """``"…"``: backtick escapes, doubled quotes, ``$name``, ``${name}``, ``$env:NAME`` and ``$( … )``."""
        start = self.pos
        self.pos += 1
        parts: list[str | Expr] = []
        buf: list[str] = []
        while True:
            if self.at_end():
                raise ParseError(
                    'The string is missing the terminator: ".', "TerminatorExpectedAtEndOfString", start, len(self.text)
                )
            ch = self.peek()
            if ch in DOUBLE_QUOTES:
                if self.peek(1) in DOUBLE_QUOTES:
                    buf.append(ch)
                    self.pos += 2
                    continue
                self.pos += 1
                break
            if ch == "`":
                nxt = self.peek(1)
                buf.append(_ESCAPES.get(nxt, nxt))
                self.pos += 2
                continue
            if ch == "$" and self._variable_follows():
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(self.parse_primary())
                continue
            buf.append(ch)
            self.pos += 1
        if buf:
            parts.append("".join(buf))
        self.features.add("double-quoted-string")
        if all(isinstance(part, str) for part in parts):
            return Literal(start, self.pos, "".join(str(part) for part in parts))
        return ExpandableString(start, self.pos, tuple(parts))

    def parse_here_string(self) -> Expr:
        start = self.pos
        quote = self.peek(1)
        expandable = quote in DOUBLE_QUOTES
        self.pos += 2
        self.skip_spaces()
        if self.peek() == "\r":
            self.pos += 1
        if self.peek() != "\n":
            raise self.error(
                "No characters are allowed after a here-string header but before the end of the line.",
                "UnexpectedCharactersAfterHereStringHeader",
            )
        self.pos += 1
        body_start = self.pos
        closer = re.compile(r"\r?\n[" + re.escape("".join(DOUBLE_QUOTES if expandable else SINGLE_QUOTES)) + "]@")
        match = closer.search(self.text, self.pos)
        if match is None:
            raise ParseError(
                "The string is missing the terminator: " + ('"@.' if expandable else "'@."),
                "TerminatorExpectedAtEndOfString",
                start,
                len(self.text),
            )
        body = self.text[body_start : match.start()]
        self.pos = match.end()
        self.features.add("here-string")
        if not expandable:
            return Literal(start, self.pos, body)
        inner = _Parser('"' + body.replace('"', '""') + '"')
        parsed = inner.parse_expandable()
        self.features |= inner.features
        if isinstance(parsed, Literal):
            return Literal(start, self.pos, parsed.value)
        assert isinstance(parsed, ExpandableString)
        return ExpandableString(start, self.pos, parsed.parts)

    def parse_variable(self) -> Expr:
        start = self.pos
        self.pos += 1
        ch = self.peek()
        if ch == "{":
            end = self.text.find("}", self.pos)
            if end < 0:
                raise self.error("Missing '}' in variable name.", "MissingEndCurlyBrace", start)
            name = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return self._named_variable(start, name)
        if ch == "?":
            self.pos += 1
            self.features.add("variable")
            return Variable(start, self.pos, "?")
        if ch == "_" and not _is_ident(self.peek(1)):
            self.pos += 1
            self.features.add("pipeline-variable")
            return Variable(start, self.pos, "_")
        if not _is_ident_start(ch):
            raise self.error(
                "Variable reference is not valid. '$' was not followed by a valid variable name character. Consider "
                "using ${} to delimit the name.",
                "InvalidVariableReference",
                start,
            )
        name = self.read_ident()
        if self.peek() == ":" and name.lower() in SCOPES and _is_ident_start(self.peek(1)):
            self.pos += 1
            inner = self.read_ident()
            name = f"env:{inner}" if name.lower() == "env" else inner
        return self._named_variable(start, name)

    def _named_variable(self, start: int, name: str) -> Expr:
        lowered = name.lower()
        if lowered in CONSTANTS:
            self.features.add("constant")
            return Literal(start, self.pos, CONSTANTS[lowered])
        if lowered == "psitem":
            self.features.add("pipeline-variable")
            return Variable(start, self.pos, "_")
        self.features.add("variable")
        return Variable(start, self.pos, name)

    def parse_hashtable(self) -> HashLiteral:
        start = self.pos
        self.pos += 2
        entries: list[tuple[str, Pipeline]] = []
        while True:
            while True:
                self.skip_blank()
                if self.peek() == ";":
                    self.pos += 1
                else:
                    break
            if self.peek() == "}":
                self.pos += 1
                break
            if self.at_end():
                raise self.error("Missing closing '}' in statement block or type definition.", "MissingEndCurlyBrace")
            if self.peek() in SINGLE_QUOTES or self.peek() in DOUBLE_QUOTES:
                key_expr = self.parse_quoted()
                if not isinstance(key_expr, Literal):
                    raise self.error("Missing key before '=' in hash literal.", "MissingEqualsInHashLiteral")
                key = str(key_expr.value)
            elif _is_ident_start(self.peek()) or self.peek().isdigit():
                key_start = self.pos
                while self.peek() and (_is_ident(self.peek()) or self.peek() in "-."):
                    self.pos += 1
                key = self.text[key_start : self.pos]
            else:
                raise self.error("Missing key before '=' in hash literal.", "MissingEqualsInHashLiteral")
            self.skip_spaces()
            if self.peek() != "=":
                raise self.error("Missing '=' operator after key in hash literal.", "MissingEqualsInHashLiteral")
            self.pos += 1
            self.skip_blank()
            entries.append((key, self.parse_pipeline()))
            self.skip_spaces()
            if self.peek() not in (";", "}", "\r", "\n"):
                if self.at_end():
                    raise self.error(
                        "Missing closing '}' in statement block or type definition.", "MissingEndCurlyBrace"
                    )
                raise self.error("Missing statement after '=' in hash literal.", "MissingStatementInHashLiteral")
        self.features.add("hashtable")
        return HashLiteral(start, self.pos, tuple(entries))


def _show_op(op: str) -> str:
    return op if op in ("+", "-", "*", "/", "%", "..") else "-" + op


def _missing_closer(closer: str) -> tuple[str, str]:
    if closer == ")":
        return "Missing closing ')' in expression.", "MissingEndParenthesisInExpression"
    return "Missing closing '}' in statement block or type definition.", "MissingEndCurlyBrace"


@lru_cache(maxsize=512)
def parse(text: str) -> Script:
    """Parse a whole script; raise :class:`ParseError` for anything outside the subset."""
    parser = _Parser(text)
    statements = parser.parse_statements("")
    return Script(text, statements, frozenset(parser.features))
