"""A scannerless recursive-descent parser for the lab's PowerShell subset (grammar in GRAMMAR.md).

PowerShell tokenises differently in command (argument) mode and expression mode, so the parser reads
characters directly and knows which mode it is in. Anything outside the subset raises
:class:`ParseError`, which the evaluator reports as PowerShell reports a ParserError.
"""

from __future__ import annotations

from functools import lru_cache

from hvdr.lab.powershell.nodes import (
    ArrayList,
    ArraySubexpression,
    Assignment,
    Bareword,
    Cast,
    Command,
    Exit,
    Expr,
    HashLiteral,
    Literal,
    Member,
    Parameter,
    Paren,
    Pipeline,
    Script,
    ScriptBlock,
    Statement,
    Throw,
    Variable,
)

# PowerShell treats the typographic single quotes as quote characters too; so must a parser that
# claims to read what PowerShell reads, or a name containing U+2019 could end a string early.
SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a\u201b")
DOUBLE_QUOTES = frozenset('"\u201c\u201d\u201e')
CAST_TYPES = frozenset({"string", "int", "datetime", "guid", "pscustomobject"})
CONSTANTS = {"true": True, "false": False, "null": None}

ALL_FEATURES = frozenset(
    {
        "newline-separator",
        "semicolon-separator",
        "assignment",
        "pipe",
        "command",
        "named-parameter",
        "switch-parameter",
        "colon-parameter",
        "positional-argument",
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
        "exit",
        "throw",
    }
)


class ParseError(Exception):
    """The script is not in the subset; ``error_id`` mirrors PowerShell's parser error ids."""

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


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.features: set[str] = set()

    # -- characters ---------------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.text[i] if i < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def error(self, message: str, error_id: str = "UnexpectedToken", start: int | None = None) -> ParseError:
        return ParseError(message, error_id, self.pos if start is None else start)

    def skip_spaces(self) -> None:
        while True:
            ch = self.peek()
            if ch in (" ", "\t"):
                self.pos += 1
            elif ch == "`":
                raise self.error(
                    "The lab does not support backtick escapes or line continuations.", "LabUnsupportedSyntax"
                )
            elif ch == "#":
                raise self.error("The lab does not support comments.", "LabUnsupportedSyntax")
            else:
                return

    def skip_blank(self) -> None:
        """Spaces and newlines (inside brackets, where newlines do not end anything)."""
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

    # -- statements ---------------------------------------------------------------------------------
    def parse_statements(self, closer: str) -> tuple[Statement, ...]:
        """Statements up to ``closer`` ('' = end of script), separated by newlines or semicolons."""
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
                    raise self.error(f"Missing closing '{closer}'.", _missing_closer_id(closer))
                return tuple(statements)
            if closer and self.peek() == closer:
                return tuple(statements)
            statements.append(self.parse_statement())
            self.skip_spaces()
            if not (self.at_end() or self.at_separator() or (closer and self.peek() == closer)):
                raise self.error(f"Unexpected token '{self._token_text()}' in expression or statement.")

    def _token_text(self) -> str:
        end = self.pos
        while end < len(self.text) and not self.text[end].isspace() and end - self.pos < 30:
            end += 1
        return self.text[self.pos : end] or self.peek()

    def parse_statement(self) -> Statement:
        start = self.pos
        if self.peek() == "$" and _is_ident_start(self.peek(1)):
            save = self.pos
            self.pos += 1
            name = self.read_ident()
            self.skip_spaces()
            if self.peek() == "=" and self.peek(1) != "=":
                self.pos += 1
                self.skip_spaces()
                if name.lower() in CONSTANTS or name == "_":
                    raise self.error(f"Cannot assign to ${name}.", "VariableNotWritable", start)
                self.features.add("assignment")
                pipeline = self.parse_pipeline()
                return Assignment(start, self.pos, name, pipeline)
            self.pos = save
        word = self._peek_word()
        if word.lower() in ("exit", "throw"):
            self.pos += len(word)
            self.skip_spaces()
            value = None if self.at_separator() or self.at_end() or self.peek() in ")}" else self.parse_expression()
            self.features.add(word.lower())
            if word.lower() == "exit":
                return Exit(start, self.pos, value)
            return Throw(start, self.pos, value)
        return self.parse_pipeline()

    def _peek_word(self) -> str:
        end = self.pos
        while end < len(self.text) and _is_ident(self.text[end]):
            end += 1
        nxt = self.text[end] if end < len(self.text) else ""
        return self.text[self.pos : end] if nxt in ("", " ", "\t", "\r", "\n", ";", "}", ")") else ""

    def parse_pipeline(self) -> Pipeline:
        start = self.pos
        elements: list[Command | Expr] = [self.parse_pipeline_element(first=True)]
        while True:
            self.skip_spaces()
            if self.peek() != "|":
                break
            if self.peek(1) == "|":
                raise self.error("The lab does not support the '||' operator.", "LabUnsupportedSyntax")
            self.pos += 1
            self.features.add("pipe")
            self.skip_blank()
            elements.append(self.parse_pipeline_element(first=False))
        return Pipeline(start, self.pos, tuple(elements))

    def parse_pipeline_element(self, *, first: bool) -> Command | Expr:
        ch = self.peek()
        if _is_ident_start(ch):
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
        while _is_ident(self.peek()) or self.peek() == "-":
            self.pos += 1
        name = self.text[start : self.pos]
        if self.peek() not in ("", " ", "\t", "\r", "\n", ";", "|", ")", "}"):
            raise self.error(f"Unexpected token '{self._token_text()}' in command name.")
        self.features.add("command")
        self.features.add(f"command:{name.lower()}")
        elements: list[Parameter | Expr] = []
        while True:
            self.skip_spaces()
            ch = self.peek()
            if ch in ("", "\r", "\n", ";", "|", ")", "}"):
                break
            if ch == "-" and _is_ident_start(self.peek(1)):
                elements.append(self.parse_parameter())
            else:
                self.features.add("positional-argument")
                elements.append(self.parse_argument())
        return Command(start, self.pos, name, tuple(elements))

    def parse_parameter(self) -> Parameter:
        start = self.pos
        self.pos += 1
        name = self.read_ident()
        if self.peek() == ":":
            self.pos += 1
            self.features.add("colon-parameter")
            return Parameter(start, self.pos, name, self.parse_argument(), True)
        self.skip_spaces()
        ch = self.peek()
        if ch in ("", "\r", "\n", ";", "|", ")", "}") or (ch == "-" and _is_ident_start(self.peek(1))):
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
            items.append(self.parse_argument_item())
        if len(items) == 1:
            return items[0]
        self.features.add("comma-list")
        return ArrayList(start, self.pos, tuple(items))

    def parse_argument_item(self) -> Expr:
        ch = self.peek()
        if _is_ident_start(ch):
            start = self.pos
            word = self.read_ident()
            if self.peek() not in ("", " ", "\t", "\r", "\n", ";", "|", ")", "}", ","):
                raise self.error(
                    f"The lab only accepts identifiers as unquoted arguments: '{self._token_text()}'.",
                    "LabUnsupportedSyntax",
                    start,
                )
            self.features.add("bareword")
            return Bareword(start, self.pos, word)
        if ch == "[":
            raise self.error(
                "Casts are only allowed in expressions; wrap the argument in parentheses.", "LabUnsupportedSyntax"
            )
        expr = self.parse_postfix()
        if self.peek() not in ("", " ", "\t", "\r", "\n", ";", "|", ")", "}", ","):
            raise self.error(f"Unexpected token '{self._token_text()}' in argument.")
        return expr

    # -- expressions --------------------------------------------------------------------------------
    def parse_expression(self) -> Expr:
        start = self.pos
        items = [self.parse_unary()]
        while True:
            save = self.pos
            self.skip_spaces()
            if self.peek() != ",":
                self.pos = save
                break
            self.pos += 1
            self.skip_blank()
            items.append(self.parse_unary())
        self.skip_spaces()
        ch = self.peek()
        if ch == "-" and _is_ident_start(self.peek(1)):
            raise self.error(f"The lab does not support the operator '{self._token_text()}'.", "LabUnsupportedSyntax")
        if ch in "+*/%!=<>" and ch:
            raise self.error(f"The lab does not support the operator '{ch}'.", "LabUnsupportedSyntax")
        if len(items) == 1:
            return items[0]
        self.features.add("comma-list")
        return ArrayList(start, self.pos, tuple(items))

    def parse_unary(self) -> Expr:
        start = self.pos
        if self.peek() == "[":
            self.pos += 1
            type_name = self.read_ident()
            if self.peek() != "]":
                raise self.error("Missing ] at end of type token.", "EndSquareBracketExpectedAtEndOfType")
            self.pos += 1
            canonical = type_name.lower()
            if canonical not in CAST_TYPES:
                raise self.error(f"Unable to find type [{type_name}].", "TypeNotFound", start)
            self.features.add(f"cast:{canonical}")
            self.skip_spaces()
            operand = self.parse_unary()
            return Cast(start, self.pos, canonical, operand)
        return self.parse_postfix()

    def parse_postfix(self) -> Expr:
        start = self.pos
        expr = self.parse_primary()
        while self.peek() == "." and _is_ident_start(self.peek(1)):
            self.pos += 1
            name = self.read_ident()
            if self.peek() == "(":
                raise self.error("The lab does not support method calls.", "LabUnsupportedSyntax")
            self.features.add("member-access")
            expr = Member(start, self.pos, expr, name)
        if self.peek() == "[":
            raise self.error("The lab does not support indexing.", "LabUnsupportedSyntax")
        return expr

    def parse_primary(self) -> Expr:
        start = self.pos
        ch = self.peek()
        if ch in SINGLE_QUOTES:
            return self.parse_string()
        if ch in DOUBLE_QUOTES:
            raise self.error(
                "The lab does not support double-quoted (expandable) strings; use single quotes.",
                "LabUnsupportedSyntax",
            )
        if ch.isascii() and ch.isdigit():
            while self.peek().isascii() and self.peek().isdigit():
                self.pos += 1
            if _is_ident(self.peek()) or self.peek() == ".":
                raise self.error("The lab only supports decimal integer literals.", "LabUnsupportedSyntax", start)
            self.features.add("integer")
            return Literal(start, self.pos, int(self.text[start : self.pos]))
        if ch == "$":
            return self.parse_variable()
        if ch == "@" and self.peek(1) == "(":
            self.pos += 2
            statements = self.parse_statements(")")
            self.pos += 1
            self.features.add("array-subexpression")
            return ArraySubexpression(start, self.pos, statements)
        if ch == "@" and self.peek(1) == "{":
            return self.parse_hashtable()
        if ch == "(":
            self.pos += 1
            self.skip_blank()
            pipeline = self.parse_pipeline()
            self.skip_blank()
            if self.peek() != ")":
                raise self.error("Missing closing ')' in expression.", "MissingEndParenthesisInExpression")
            self.pos += 1
            self.features.add("paren-expression")
            return Paren(start, self.pos, pipeline)
        if ch == "{":
            self.pos += 1
            statements = self.parse_statements("}")
            self.pos += 1
            self.features.add("script-block")
            return ScriptBlock(start, self.pos, statements)
        if ch == "@":
            raise self.error("The lab does not support here-strings or splatting.", "LabUnsupportedSyntax")
        if ch == "":
            raise self.error("An expression was expected.", "ExpectedExpression")
        raise self.error(f"Unexpected token '{self._token_text()}' in expression or statement.")

    def parse_string(self) -> Literal:
        start = self.pos
        self.pos += 1
        parts: list[str] = []
        while True:
            if self.at_end():
                raise ParseError(
                    "The string is missing the terminator: '.", "TerminatorExpectedAtEndOfString", start, len(self.text)
                )
            ch = self.peek()
            if ch in SINGLE_QUOTES:
                if self.peek(1) in SINGLE_QUOTES:
                    parts.append(ch)
                    self.pos += 2
                    self.features.add("quote-escape")
                    continue
                self.pos += 1
                break
            parts.append(ch)
            self.pos += 1
        self.features.add("single-quoted-string")
        return Literal(start, self.pos, "".join(parts))

    def parse_variable(self) -> Expr:
        start = self.pos
        self.pos += 1
        ch = self.peek()
        if ch == "(":
            raise self.error("The lab does not support subexpressions '$( )'.", "LabUnsupportedSyntax", start)
        if ch == "{":
            raise self.error("The lab does not support braced variable names.", "LabUnsupportedSyntax", start)
        if ch == "_" and not _is_ident(self.peek(1)):
            self.pos += 1
            self.features.add("pipeline-variable")
            return Variable(start, self.pos, "_")
        if not _is_ident_start(ch):
            raise self.error("Variable reference is not valid.", "InvalidVariableReference", start)
        name = self.read_ident()
        if self.peek() == ":":
            raise self.error("The lab does not support scoped or drive variables.", "LabUnsupportedSyntax", start)
        if name.lower() in CONSTANTS:
            self.features.add("constant")
            return Literal(start, self.pos, CONSTANTS[name.lower()])
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
            if self.peek() in SINGLE_QUOTES:
                key = str(self.parse_string().value)
            elif _is_ident_start(self.peek()):
                key = self.read_ident()
            else:
                raise self.error("Missing key before '=' in hash literal.", "MissingEqualsInHashLiteral")
            self.skip_spaces()
            if self.peek() != "=":
                raise self.error("Missing '=' operator after key in hash literal.", "MissingEqualsInHashLiteral")
            self.pos += 1
            self.skip_spaces()
            entries.append((key, self.parse_pipeline()))
            self.skip_spaces()
            if self.peek() not in (";", "}", "\r", "\n"):
                raise self.error("Missing statement after '=' in hash literal.", "MissingStatementInHashLiteral")
        self.features.add("hashtable")
        return HashLiteral(start, self.pos, tuple(entries))


def _missing_closer_id(closer: str) -> str:
    return {")": "MissingEndParenthesisInExpression", "}": "MissingEndCurlyBrace"}.get(closer, "UnexpectedToken")


@lru_cache(maxsize=512)
def parse(text: str) -> Script:
    """Parse a whole script; raise :class:`ParseError` for anything outside the subset."""
    parser = _Parser(text)
    statements = parser.parse_statements("")
    return Script(text, statements, frozenset(parser.features))
