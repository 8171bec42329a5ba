"""Runs a parsed script against one :class:`~hvdr.lab.seam.PSHost`.

Output objects are written statement by statement (so a WS-Management Receive can see partial output);
errors become :class:`ErrorRecord` s rendered as CLIXML. ``$ErrorActionPreference`` decides whether a
cmdlet error ends the script (``Stop``), is written and skipped (``Continue``) or dropped
(``SilentlyContinue``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hvdr.lab.powershell.builtins import BUILTINS, BuiltinCall, Cancelled
from hvdr.lab.powershell.clixml import ErrorRecord, to_clixml
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
    Node,
    Parameter,
    Paren,
    Pipeline,
    Script,
    ScriptBlock,
    Statement,
    Throw,
    Variable,
)
from hvdr.lab.powershell.parser import ParseError, parse
from hvdr.lab.powershell.values import CASTS, get_member, to_int, to_string, unroll
from hvdr.lab.seam import Invocation, PSError, PSHost, PSObject

BINDING_ERROR_IDS = frozenset(
    {
        "NamedParameterNotFound",
        "PositionalParameterNotFound",
        "ParameterArgumentValidationError",
        "ParameterArgumentTransformationError",
        "MissingMandatoryParameter",
        "AmbiguousParameterSet",
        "AmbiguousParameter",
        "ParameterAlreadyBound",
    }
)
PREFERENCE_VALUES = {"stop": "Stop", "continue": "Continue", "silentlycontinue": "SilentlyContinue"}


@dataclass(frozen=True)
class ScriptBlockValue:
    """A ``{ ... }`` value; only Select-Object's calculated properties invoke one."""

    node: ScriptBlock

    def __str__(self) -> str:
        return "<script block>"


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Terminate(Exception):
    def __init__(self, record: ErrorRecord) -> None:
        self.record = record


@dataclass
class RunResult:
    exit_code: int
    stderr: str


def _single(values: list[Any]) -> Any:
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def format_output(values: list[Any]) -> str:
    """How powershell.exe prints leftover pipeline objects (strings as-is; objects as a list view)."""
    lines: list[str] = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, PSObject):
            props = value.ps_properties()
            width = max((len(k) for k in props), default=0)
            lines.append("")
            lines.extend(f"{k.ljust(width)} : {to_string(v)}" for k, v in props.items())
            lines.append("")
        else:
            lines.append(to_string(value))
    return "".join(line + "\r\n" for line in lines)


class Evaluator:
    def __init__(
        self,
        host: PSHost,
        script: Script,
        *,
        write_stdout: Callable[[str], None],
        cancelled: threading.Event | None = None,
    ) -> None:
        self.host = host
        self.script = script
        self.write_stdout = write_stdout
        self.cancelled = cancelled or threading.Event()
        self.variables: dict[str, Any] = {"erroractionpreference": "Continue", "progresspreference": "Continue"}
        self.errors: list[ErrorRecord] = []
        self.progress = False
        self._underscore: list[Any] = []

    def run(self) -> int:
        try:
            for statement in self.script.statements:
                output = self.exec_statement(statement)
                if output:
                    text = format_output(output)
                    if text:
                        self.write_stdout(text)
        except _Exit as exit_:
            return exit_.code
        except _Terminate as terminate:
            self.errors.append(terminate.record)
            return 1
        except Cancelled:
            return 1
        return 1 if self.errors else 0

    # -- statements ---------------------------------------------------------------------------------
    def exec_statement(self, statement: Statement) -> list[Any]:
        if self.cancelled.is_set():
            raise Cancelled()
        try:
            return self._exec(statement)
        except PSError as error:
            # A runtime error inside an expression (a failed cast, say) ends the statement.
            record = ErrorRecord(
                error.message,
                error.error_id,
                error.category,
                "RuntimeException",
                target=error.target,
                span=(statement.start, statement.end),
            )
            self.handle_error(record)
            return []

    def _exec(self, statement: Statement) -> list[Any]:
        if isinstance(statement, Assignment):
            value = self.value_of(statement.pipeline)
            name = statement.variable.lower()
            if name in ("erroractionpreference", "progresspreference"):
                canonical = PREFERENCE_VALUES.get(to_string(value).lower())
                if canonical is None:
                    raise PSError(
                        f'Cannot convert value "{to_string(value)}" to type '
                        '"System.Management.Automation.ActionPreference".',
                        error_id="RuntimeException",
                        category="InvalidArgument",
                    )
                value = canonical
            self.variables[name] = value
            return []
        if isinstance(statement, Exit):
            raise _Exit(to_int(self.eval(statement.code)) if statement.code else 0)
        if isinstance(statement, Throw):
            message = to_string(self.eval(statement.value)) if statement.value else "ScriptHalted"
            raise _Terminate(
                ErrorRecord(
                    message,
                    message,
                    "OperationStopped",
                    "RuntimeException",
                    target=message,
                    span=(statement.start, statement.end),
                )
            )
        return self.run_pipeline(statement)

    def handle_error(self, record: ErrorRecord) -> None:
        preference = self.variables.get("erroractionpreference", "Continue")
        if preference == "Stop":
            raise _Terminate(record)
        if preference != "SilentlyContinue":
            self.errors.append(record)

    def run_pipeline(self, pipeline: Pipeline) -> list[Any]:
        items: list[Any] = []
        for index, element in enumerate(pipeline.elements):
            if isinstance(element, Command):
                items = self.invoke(element, items, piped=index > 0)
            else:
                items = unroll(self.eval(element))
        return items

    def value_of(self, pipeline: Pipeline) -> Any:
        """A pipeline used as a value (assignment, hash entry, parentheses): a lone expression keeps its
        value as is (an array stays an array); command output is collected (none → $null, one → itself)."""
        if len(pipeline.elements) == 1 and not isinstance(pipeline.elements[0], Command):
            return self.eval(pipeline.elements[0])
        return _single(self.run_pipeline(pipeline))

    # -- commands -----------------------------------------------------------------------------------
    def invoke(self, command: Command, pipeline_input: list[Any], *, piped: bool) -> list[Any]:
        if self.cancelled.is_set():
            raise Cancelled()
        named: list[tuple[str, Any]] = []
        positional: list[Any] = []
        for element in command.elements:
            if isinstance(element, Parameter):
                named.append((element.name, True if element.value is None else self.eval(element.value)))
            else:
                positional.append(self.eval(element))
        builtin = BUILTINS.get(command.name.lower())
        if builtin is not None:
            call = BuiltinCall(
                command.name,
                {n.lower(): v for n, v in named},
                positional,
                pipeline_input,
                piped,
                self.cancelled,
                self.invoke_block,
            )
            try:
                return builtin(call)
            except PSError as error:
                self.handle_error(self._record(command, error, "Microsoft.PowerShell.Commands"))
                return []
        cmdlet = self.host.cmdlet(command.name)
        if cmdlet is None:
            message = (
                f"The term '{command.name}' is not recognized as the name of a cmdlet, function, script "
                "file, or operable program. Check the spelling of the name, or if a path was included, "
                "verify that the path is correct and try again."
            )
            self.handle_error(
                ErrorRecord(
                    message,
                    "CommandNotFoundException",
                    "ObjectNotFound",
                    "CommandNotFoundException",
                    command=command.name,
                    target=command.name,
                    span=(command.start, command.end),
                )
            )
            return []
        self._cmdlet_latency(command.name)
        if self.variables.get("progresspreference") != "SilentlyContinue":
            self.progress = True
        try:
            result = cmdlet(Invocation(command.name, named, positional, list(pipeline_input)))
        except PSError as error:
            self.handle_error(self._record(command, error, "Microsoft.HyperV.PowerShell.Commands"))
            return []
        except Exception as exc:  # a model bug must still reach the client as an error record
            internal = PSError(f"{type(exc).__name__}: {exc}", error_id="LabInternalError", category="NotSpecified")
            self.handle_error(self._record(command, internal, "Microsoft.HyperV.PowerShell.Commands"))
            return []
        return list(result or [])

    def _record(self, command: Command, error: PSError, namespace: str) -> ErrorRecord:
        binding = error.error_id in BINDING_ERROR_IDS
        reason = error.exception or (
            "ParameterBindingException"
            if binding
            else (
                "VirtualizationException" if namespace.startswith("Microsoft.HyperV") else "PSInvalidOperationException"
            )
        )
        # The Hyper-V module's classes carry no "Command" suffix (…Commands.GetVM); PowerShell's own do.
        plain = f"{namespace}.{command.name.replace('-', '')}"
        suffix = error.command_class or (plain if namespace.startswith("Microsoft.HyperV") else f"{plain}Command")
        return ErrorRecord(
            error.message,
            error.error_id,
            error.category,
            reason,
            command=command.name,
            fqid_suffix=suffix,
            target=error.target,
            span=(command.start, command.end),
        )

    def _cmdlet_latency(self, name: str) -> None:
        latencies = self.host.wire_faults().cmdlet_latency_s
        delay = next((float(v) for k, v in latencies.items() if k.lower() == name.lower()), 0.0)
        if delay > 0 and self.cancelled.wait(delay):
            raise Cancelled()

    def invoke_block(self, block: ScriptBlockValue, underscore: Any) -> list[Any]:
        self._underscore.append(underscore)
        try:
            output: list[Any] = []
            for statement in block.node.statements:
                output.extend(self._exec(statement))
            return output
        finally:
            self._underscore.pop()

    # -- expressions --------------------------------------------------------------------------------
    def eval(self, expr: Expr) -> Any:
        # One dict lookup instead of a chain of isinstance checks: eval runs ~75 times per driver script.
        handler = _EVAL.get(type(expr))
        if handler is None:
            raise TypeError(f"not an expression: {expr!r}")
        return handler(self, expr)

    def _variable(self, expr: Variable) -> Any:
        if expr.name == "_":
            return self._underscore[-1] if self._underscore else None
        return self.variables.get(expr.name.lower())

    def _array_subexpression(self, expr: ArraySubexpression) -> list[Any]:
        values: list[Any] = []
        for statement in expr.statements:
            values.extend(self._exec(statement))
        return values


_EVAL: dict[type, Callable[[Evaluator, Any], Any]] = {
    Literal: lambda ev, expr: expr.value,
    Bareword: lambda ev, expr: expr.value,
    Variable: Evaluator._variable,
    Member: lambda ev, expr: get_member(ev.eval(expr.target), expr.name),
    Cast: lambda ev, expr: CASTS[expr.type_name](ev.eval(expr.operand)),
    ArrayList: lambda ev, expr: [ev.eval(item) for item in expr.items],
    ArraySubexpression: Evaluator._array_subexpression,
    HashLiteral: lambda ev, expr: {key: ev.value_of(value) for key, value in expr.entries},
    ScriptBlock: lambda ev, expr: ScriptBlockValue(expr),
    Paren: lambda ev, expr: ev.value_of(expr.pipeline),
}


def run_script(
    host: PSHost,
    text: str,
    *,
    write_stdout: Callable[[str], None],
    cancelled: threading.Event | None = None,
) -> RunResult:
    """Parse and run ``text``; stdout goes to ``write_stdout`` as it is produced, stderr is returned."""
    try:
        script = parse(text)
    except ParseError as error:
        record = ErrorRecord(
            error.message,
            error.error_id,
            "ParserError",
            "ParentContainsErrorRecordException",
            span=(error.start, error.end),
            parser_error=True,
        )
        return RunResult(1, to_clixml([record], text))
    evaluator = Evaluator(host, script, write_stdout=write_stdout, cancelled=cancelled)
    code = evaluator.run()
    stderr = (
        to_clixml(evaluator.errors, text, progress=evaluator.progress)
        if (evaluator.errors or evaluator.progress)
        else ""
    )
    return RunResult(code, stderr)


__all__ = ["Evaluator", "Node", "RunResult", "ScriptBlockValue", "format_output", "run_script"]
