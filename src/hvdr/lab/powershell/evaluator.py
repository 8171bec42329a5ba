"""Runs a parsed script against one :class:`~hvdr.lab.seam.PSHost`.

Output objects are written statement by statement (so a WS-Management Receive can see partial output);
errors become :class:`ErrorRecord` s rendered as CLIXML. A cmdlet's error is non-terminating:
``-ErrorAction`` or else ``$ErrorActionPreference`` decides whether it ends the script (``Stop``), is written
and skipped (``Continue``) or dropped (``SilentlyContinue``, ``Ignore``). Binding errors, unknown commands,
runtime errors and ``throw`` end their statement, or the ``try`` block around it. As ``powershell -Command``
does, the exit code is 0 when ``$?`` is true after the last statement and 1 otherwise, unless ``exit N`` set it.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hvdr.lab.powershell.builtins import ALIASES, BUILTINS, SWITCHES, BuiltinCall, Cancelled, WriteErrorRequest
from hvdr.lab.powershell.clixml import ErrorRecord, to_clixml
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
    Node,
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
from hvdr.lab.powershell.operators import (
    arithmetic,
    comparison,
    format_operator,
    range_operator,
)
from hvdr.lab.powershell.parser import ParseError, parse
from hvdr.lab.powershell.values import (
    CASTS,
    TYPE_FULL_NAMES,
    ErrorRecordValue,
    format_output,
    get_member,
    to_bool,
    to_int,
    to_number,
    to_string,
    type_name_of,
    unroll,
)
from hvdr.lab.seam import Invocation, PSCustomObject, PSError, PSHost

BINDING_ERROR_IDS = frozenset(
    {
        "NamedParameterNotFound",
        "PositionalParameterNotFound",
        "ParameterArgumentValidationError",
        "ParameterArgumentTransformationError",
        "MissingMandatoryParameter",
        "MissingArgument",
        "AmbiguousParameterSet",
        "AmbiguousParameter",
        "ParameterAlreadyBound",
        "CannotConvertArgumentNoMessage",
        "InputObjectNotBound",
    }
)
PREFERENCE_VALUES = {
    "stop": "Stop",
    "continue": "Continue",
    "silentlycontinue": "SilentlyContinue",
    "ignore": "Ignore",
    "inquire": "Inquire",
    "suspend": "Suspend",
}
# ActionPreference's integer values (``-ErrorAction 0``).
PREFERENCE_NUMBERS = {0: "SilentlyContinue", 1: "Stop", 2: "Continue", 3: "Inquire", 4: "Ignore", 5: "Suspend"}
NOT_RECOGNIZED = (
    "The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. "
    "Check the spelling of the name, or if a path was included, verify that the path is correct and try again."
)


@dataclass(frozen=True)
class ScriptBlockValue:
    """A ``{ ... }`` value (Where-Object, ForEach-Object, calculated properties)."""

    node: ScriptBlock

    def __str__(self) -> str:
        return "<script block>"


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Terminate(Exception):
    """A terminating error: ends the script unless a ``try`` catches it."""

    def __init__(self, record: ErrorRecord) -> None:
        self.record = record


class _LoopControl(Exception):
    def __init__(self, keyword: str) -> None:
        self.keyword = keyword


class _Return(Exception):
    def __init__(self, output: list[Any]) -> None:
        self.output = output


@dataclass
class RunResult:
    exit_code: int
    stderr: str


def _single(values: list[Any]) -> Any:
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _preference(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return PREFERENCE_NUMBERS.get(value)
    return PREFERENCE_VALUES.get(to_string(value).strip().lower())


# -ErrorAction as it may be written: its alias and its unambiguous prefixes (-ErrorVariable shares "Error").
ERROR_ACTION_NAMES = frozenset({"ea", *("erroraction"[:n] for n in range(6, 12))})


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
        self.variables: dict[str, Any] = {
            "erroractionpreference": "Continue",
            "progresspreference": "Continue",
            "lastexitcode": None,
            "error": [],
            "matches": None,
            "ofs": " ",
        }
        self.errors: list[ErrorRecord] = []
        self.progress = False
        self._underscore: list[Any] = []
        self.ok = True
        """Whether the statement running now has succeeded so far."""
        self.status = True
        """``$?``: whether the last statement succeeded."""
        self._try_depth = 0
        self._error_sink: list[ErrorRecord] | None = None
        """Where a command's non-terminating errors go while it runs with ``2>$null`` or ``2>&1``."""

    def run(self) -> int:
        try:
            for statement in self.script.statements:
                output = self.exec_statement(statement)
                if output:
                    self.write(output)
        except _Exit as exit_:
            return exit_.code
        except _Terminate as terminate:
            self.errors.append(terminate.record)
            return 1
        except _Return as returned:
            self.write(returned.output)
        except _LoopControl:
            pass
        except Cancelled:
            return 1
        return 0 if self.status else 1

    def write(self, output: list[Any]) -> None:
        text = format_output(output)
        if text:
            self.write_stdout(text)

    # -- statements ---------------------------------------------------------------------------------
    def exec_statement(self, statement: Statement) -> list[Any]:
        if self.cancelled.is_set():
            raise Cancelled()
        self.ok = True
        try:
            return _EXEC[type(statement)](self, statement)
        except PSError as error:
            # A runtime error inside an expression (a failed cast, a bad method call) ends the statement.
            record = ErrorRecord(
                error.message,
                error.error_id,
                error.category,
                "RuntimeException",
                target=error.target,
                span=(statement.start, statement.end),
            )
            self.handle_error(record, terminating=True)
            return []
        finally:
            self.status = self.ok

    def exec_block(self, statements: tuple[Statement, ...]) -> list[Any]:
        output: list[Any] = []
        for statement in statements:
            output.extend(self.exec_statement(statement))
        return output

    def _assignment(self, statement: Assignment) -> list[Any]:
        value = self.value_of(statement.pipeline)
        name = statement.variable.lower()
        if name == "null":
            return []
        if statement.operator != "=":
            value = arithmetic(statement.operator[0], self._read_variable(name), value)
        if name in ("erroractionpreference", "progresspreference"):
            canonical = _preference(value)
            if canonical is None:
                raise PSError(
                    f'Cannot convert value "{to_string(value)}" to type '
                    '"System.Management.Automation.ActionPreference". Error: "Unable to match the identifier name '
                    f"{to_string(value)} to a valid enumerator name. Specify one of the following enumerator names "
                    'and try again:\r\nSilentlyContinue, Stop, Continue, Inquire, Ignore, Suspend"',
                    error_id="RuntimeException",
                    category="InvalidArgument",
                )
            value = canonical
        self.variables[name] = value
        return []

    def _exit(self, statement: Exit) -> list[Any]:
        raise _Exit(to_int(self.eval(statement.code)) if statement.code else 0)

    def _throw(self, statement: Throw) -> list[Any]:
        value = self.eval(statement.value) if statement.value else None
        if isinstance(value, ErrorRecordValue):
            raise _Terminate(
                ErrorRecord(
                    value.message,
                    value.error_id,
                    value.ps_get("CategoryInfo").ps_get("Category"),
                    value.ps_get("CategoryInfo").ps_get("Reason"),
                    span=(statement.start, statement.end),
                )
            )
        message = to_string(value) if value is not None else "ScriptHalted"
        raise _Terminate(
            ErrorRecord(
                message,
                message,
                "OperationStopped",
                "RuntimeException",
                target=message if value is not None else None,
                span=(statement.start, statement.end),
            )
        )

    def _return(self, statement: Return) -> list[Any]:
        raise _Return(self.run_pipeline(statement.value) if statement.value else [])

    def _loop_control(self, statement: LoopControl) -> list[Any]:
        raise _LoopControl(statement.keyword)

    def _if(self, statement: If) -> list[Any]:
        for condition, body in statement.clauses:
            if to_bool(self.value_of(condition)):
                return self.exec_block(body)
        return self.exec_block(statement.otherwise) if statement.otherwise is not None else []

    def _foreach(self, statement: Foreach) -> list[Any]:
        collection = self.value_of(statement.collection)
        name = statement.variable.lower()
        output: list[Any] = []
        for item in unroll(collection) if collection is not None else []:
            self.variables[name] = item
            try:
                output.extend(self.exec_block(statement.body))
            except _LoopControl as control:
                if control.keyword == "break":
                    break
        return output

    def _try(self, statement: Try) -> list[Any]:
        output: list[Any] = []
        try:
            self._try_depth += 1
            try:
                output.extend(self.exec_block(statement.body))
            finally:
                self._try_depth -= 1
        except _Terminate as terminate:
            record = terminate.record
            for types, body in statement.catches:
                if not types or any(_catches(t, record) for t in types):
                    value = _error_value(record)
                    self._record_error(value)
                    self._underscore.append(value)
                    try:
                        output.extend(self.exec_block(body))
                    finally:
                        self._underscore.pop()
                    break
            else:
                raise
        finally:
            if statement.finally_body is not None:
                output.extend(self.exec_block(statement.finally_body))
        return output

    def _record_error(self, value: ErrorRecordValue) -> None:
        errors = self.variables.get("error")
        if isinstance(errors, list):
            errors.insert(0, value)

    def handle_error(self, record: ErrorRecord, *, terminating: bool = False, action: str | None = None) -> None:
        """An error of the current statement: raise it, write it, or drop it (and set ``$?`` to false)."""
        self.ok = False
        preference = action or self.variables.get("erroractionpreference", "Continue")
        if terminating:
            if self._try_depth or preference == "Stop" or action == "Stop":
                raise _Terminate(record)
        elif preference == "Stop":
            raise _Terminate(record)
        if preference == "Ignore":
            return
        self._record_error(_error_value(record))
        if self._error_sink is not None:
            self._error_sink.append(record)
        elif preference != "SilentlyContinue":
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
        if not command.redirections:
            return self._invoke(command, pipeline_input, piped=piped)
        streams = dict(command.redirections)
        errors_to = streams.get("2") or streams.get("*")
        outer, self._error_sink = self._error_sink, ([] if errors_to in ("null", "1") else self._error_sink)
        sink = self._error_sink
        try:
            result = self._invoke(command, pipeline_input, piped=piped)
        finally:
            self._error_sink = outer
        if errors_to == "1" and sink:
            result = [*result, *(_error_value(record) for record in sink)]
        return [] if "null" in (streams.get("1"), streams.get("*")) else result

    def _invoke(self, command: Command, pipeline_input: list[Any], *, piped: bool) -> list[Any]:
        if self.cancelled.is_set():
            raise Cancelled()
        name = ALIASES.get(command.name.lower(), command.name)
        builtin = BUILTINS.get(name.lower())
        switches = SWITCHES.get(name.lower(), frozenset())
        named: list[tuple[str, Any]] = []
        lowered: dict[str, Any] = {}
        positional: list[Any] = []
        action: str | None = None
        for element in command.elements:
            if not isinstance(element, Parameter):
                positional.append(self.eval(element))
                continue
            key = element.name.lower()
            value = True if element.value is None else self.eval(element.value)
            if element.value is not None and not element.colon and key in switches:
                # A builtin's switch does not take the next argument: it is positional (Write-Host -NoNewline 'x').
                positional.append(value)
                value = True
            elif key in ERROR_ACTION_NAMES:
                action = _preference(value)
                named.append((element.name, value))
                continue
            named.append((element.name, value))
            lowered[key] = value
        if builtin is not None:
            call = BuiltinCall(
                name,
                lowered,
                positional,
                pipeline_input,
                piped,
                self.cancelled,
                self.invoke_block,
                self.write_stdout,
            )
            try:
                return builtin(call)
            except WriteErrorRequest as request:
                self.handle_error(
                    ErrorRecord(
                        request.message,
                        request.error_id,
                        request.category,
                        "WriteErrorException",
                        command="Write-Error",
                        target=request.target,
                        prefix=self.script.text[command.start : command.end],
                    ),
                    action=action,
                )
                return []
            except PSError as error:
                self.handle_error(
                    self._record(command, error, "Microsoft.PowerShell.Commands"),
                    terminating=error.error_id in BINDING_ERROR_IDS,
                    action=action,
                )
                return []
        cmdlet = self.host.cmdlet(name)
        if cmdlet is None:
            self.handle_error(
                ErrorRecord(
                    NOT_RECOGNIZED.format(name=command.name),
                    "CommandNotFoundException",
                    "ObjectNotFound",
                    "CommandNotFoundException",
                    command=command.name,
                    target=command.name,
                    span=(command.start, command.end),
                ),
                terminating=True,
            )
            return []
        self._cmdlet_latency(name)
        if self.variables.get("progresspreference") != "SilentlyContinue":
            self.progress = True
        try:
            if name.lower() in self.host.wire_faults().cmdlet_errors:
                raise PSError("The operation failed.", error_id="OperationFailed", category="NotSpecified")
            result = cmdlet(Invocation(name, named, positional, list(pipeline_input), piped))
        except PSError as error:
            self.handle_error(
                self._record(command, error, "Microsoft.HyperV.PowerShell.Commands"),
                terminating=error.error_id in BINDING_ERROR_IDS,
                action=action,
            )
            return []
        except Exception as exc:  # a model bug must still reach the client as an error record
            internal = PSError(f"{type(exc).__name__}: {exc}", error_id="LabInternalError", category="NotSpecified")
            self.handle_error(self._record(command, internal, "Microsoft.HyperV.PowerShell.Commands"), action=action)
            return []
        return list(result or [])

    def _record(self, command: Command, error: PSError, namespace: str) -> ErrorRecord:
        binding = error.error_id in BINDING_ERROR_IDS
        if error.exception:
            reason = error.exception
        elif binding:
            reason = "ParameterBindingException"
        elif namespace.startswith("Microsoft.HyperV"):
            reason = "VirtualizationException"
        else:
            reason = "PSInvalidOperationException"
        name = ALIASES.get(command.name.lower(), command.name)
        # The Hyper-V module's classes carry no "Command" suffix (…Commands.GetVM); PowerShell's own do.
        plain = f"{namespace}.{name.replace('-', '')}"
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
        """Run a script block with ``$_`` set; statement errors inside follow the usual rules."""
        self._underscore.append(underscore)
        try:
            return self.exec_block(block.node.statements)
        except _Return as returned:
            return returned.output
        finally:
            self._underscore.pop()

    # -- expressions --------------------------------------------------------------------------------
    def eval(self, expr: Expr) -> Any:
        # One dict lookup instead of a chain of isinstance checks: eval runs ~75 times per driver script.
        handler = _EVAL.get(type(expr))
        if handler is None:
            raise TypeError(f"not an expression: {expr!r}")
        return handler(self, expr)

    def _read_variable(self, name: str) -> Any:
        if name.startswith("env:"):
            return self._environment(name[4:])
        return self.variables.get(name)

    def _environment(self, name: str) -> str | None:
        short = self.host.name.split(".", 1)[0].upper()
        env = {
            "computername": short,
            "userdnsdomain": self.host.name.partition(".")[2].upper() or None,
            "username": "Administrator",
            "systemroot": "C:\\Windows",
            "windir": "C:\\Windows",
            "programdata": "C:\\ProgramData",
            "temp": "C:\\Windows\\TEMP",
            "tmp": "C:\\Windows\\TEMP",
        }
        return env.get(name.lower())

    def _variable(self, expr: Variable) -> Any:
        name = expr.name
        if name == "_":
            return self._underscore[-1] if self._underscore else None
        if name == "?":
            return self.status
        return self._read_variable(name.lower())

    def _statements_output(self, statements: tuple[Statement, ...]) -> list[Any]:
        values: list[Any] = []
        for statement in statements:
            values.extend(_EXEC[type(statement)](self, statement))
        return values

    def _binary(self, expr: Binary) -> Any:
        op = expr.operator
        if op in ("and", "or", "xor"):
            left = to_bool(self.eval(expr.left))
            if op == "and" and not left:
                return False
            if op == "or" and left:
                return True
            right = to_bool(self.eval(expr.right))
            return left != right if op == "xor" else right
        left, right = self.eval(expr.left), self.eval(expr.right)
        if op in ("+", "-", "*", "/", "%"):
            return arithmetic(op, left, right)
        if op == "..":
            return range_operator(left, right)
        if op == "f":
            return format_operator(left, right)
        if op in ("band", "bor", "bxor"):
            a, b = int(to_number(left)), int(to_number(right))
            return a & b if op == "band" else a | b if op == "bor" else a ^ b
        matches: dict[str, Any] = {}
        result = comparison(op, left, right, matches)
        if matches:
            self.variables["matches"] = matches
        return result

    def _unary(self, expr: Unary) -> Any:
        value = self.eval(expr.operand)
        op = expr.operator
        if op == "not":
            return not to_bool(value)
        if op == "-":
            number = to_number(value)
            return -number
        if op == "+":
            return to_number(value)
        if op == "bnot":
            return ~int(to_number(value))
        if op == "join":
            return "".join(to_string(v) for v in unroll(value))
        return [part for item in unroll(value) for part in to_string(item).split()]

    def _index(self, expr: Index) -> Any:
        target, index = self.eval(expr.target), self.eval(expr.index)
        if isinstance(target, dict):
            return get_member(target, to_string(index))
        if isinstance(target, str | list | tuple):
            picks = [self._pick(target, i) for i in unroll(index)] if isinstance(index, list) else None
            return picks if picks is not None else self._pick(target, index)
        if target is None:
            raise PSError("Cannot index into a null array.", error_id="NullArray", category="InvalidOperation")
        return target if to_number(index) in (0, -1) else None

    @staticmethod
    def _pick(target: str | list[Any] | tuple[Any, ...], index: Any) -> Any:
        position = int(to_number(index))
        if -len(target) <= position < len(target):
            return target[position]
        return None

    def _method(self, expr: MethodCall) -> Any:
        target = self.eval(expr.target)
        arguments = [self.eval(a) for a in expr.arguments]
        return call_method(target, expr.name, arguments)

    def _static(self, expr: StaticMember) -> Any:
        arguments = None if expr.arguments is None else [self.eval(a) for a in expr.arguments]
        return static_member(expr.type_name, expr.name, arguments)

    def _expandable(self, expr: ExpandableString) -> str:
        out: list[str] = []
        separator = to_string(self.variables.get("ofs", " "))
        for part in expr.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = self.eval(part)
            if isinstance(value, list | tuple):
                out.append(separator.join(to_string(v) for v in value))
            else:
                out.append(to_string(value))
        return "".join(out)


def _catches(type_name: str, record: ErrorRecord) -> bool:
    lowered = type_name.lower().rsplit(".", 1)[-1]
    return lowered in ("exception", "systemexception", record.reason.lower(), "runtimeexception") or (
        lowered == "actionpreferencestopexception"
    )


def _error_value(record: ErrorRecord) -> ErrorRecordValue:
    return ErrorRecordValue(
        record.message, record.fully_qualified_error_id, record.category, record.reason, record.target
    )


def _method_missing(target: Any, name: str) -> PSError:
    return PSError(
        f"Method invocation failed because [{type_name_of(target)}] does not contain a method named '{name}'.",
        error_id="MethodNotFound",
        category="InvalidOperation",
    )


def call_method(target: Any, name: str, arguments: list[Any]) -> Any:
    """The .NET methods operator scripts call most (strings, dates, ``ToString()``); others fail as in PowerShell."""
    lowered = name.lower()
    if target is None:
        raise PSError(
            "You cannot call a method on a null-valued expression.",
            error_id="InvokeMethodOnNull",
            category="InvalidOperation",
        )
    if lowered == "tostring" and not arguments:
        return to_string(target)
    if lowered == "gettype" and not arguments:
        full = type_name_of(target)
        return PSCustomObject({"Name": full.rsplit(".", 1)[-1], "FullName": full}, type_name="System.RuntimeType")
    if isinstance(target, str):
        text = [to_string(a) for a in arguments]
        methods: dict[str, Callable[[], Any]] = {
            "toupper": lambda: target.upper(),
            "tolower": lambda: target.lower(),
            "trim": lambda: target.strip(text[0] if text else None),
            "trimstart": lambda: target.lstrip(text[0] if text else None),
            "trimend": lambda: target.rstrip(text[0] if text else None),
            "startswith": lambda: target.startswith(text[0]),
            "endswith": lambda: target.endswith(text[0]),
            "contains": lambda: text[0] in target,
            "replace": lambda: target.replace(text[0], text[1]),
            "split": lambda: target.split(text[0]) if len(text[0]) == 1 else [p for p in _split_any(target, text[0])],
            "substring": lambda: target[int(to_number(arguments[0])) :][
                : int(to_number(arguments[1])) if len(arguments) > 1 else None
            ],
            "indexof": lambda: target.find(text[0]),
            "padleft": lambda: target.rjust(int(to_number(arguments[0]))),
            "padright": lambda: target.ljust(int(to_number(arguments[0]))),
        }
        if lowered in methods and (arguments or lowered in ("toupper", "tolower", "trim", "trimstart", "trimend")):
            return methods[lowered]()
    if isinstance(target, datetime) and lowered.startswith("add") and len(arguments) == 1:
        unit = lowered[3:]
        amount = float(to_number(arguments[0]))
        units = {
            "seconds": "seconds",
            "minutes": "minutes",
            "hours": "hours",
            "days": "days",
            "milliseconds": "milliseconds",
        }
        if unit in units:
            return target + timedelta(**{units[unit]: amount})
    if isinstance(target, datetime) and lowered == "touniversaltime" and not arguments:
        return target.astimezone(UTC)
    if isinstance(target, list | tuple) and lowered == "contains" and len(arguments) == 1:
        return arguments[0] in target
    if isinstance(target, dict) and lowered in ("containskey", "contains") and len(arguments) == 1:
        return any(str(k).lower() == to_string(arguments[0]).lower() for k in target)
    raise _method_missing(target, name)


def _split_any(text: str, separators: str) -> list[str]:
    parts = [""]
    for ch in text:
        if ch in separators:
            parts.append("")
        else:
            parts[-1] += ch
    return parts


def static_member(type_name: str, name: str, arguments: list[Any] | None) -> Any:
    """``[math]::Round(x, n)``, ``[datetime]::UtcNow``, ``[string]::IsNullOrEmpty(x)`` and a few others."""
    lowered = name.lower()
    if type_name == "math" and arguments is not None:
        numbers = [to_number(a) for a in arguments]
        if lowered == "round" and numbers:
            digits = int(numbers[1]) if len(numbers) > 1 else 0
            rounded = round(float(numbers[0]), digits)
            return int(rounded) if digits == 0 else rounded
        functions: dict[str, Callable[..., Any]] = {
            "floor": lambda x: int(x // 1),
            "ceiling": lambda x: -int(-x // 1),
            "abs": abs,
            "max": max,
            "min": min,
        }
        if lowered in functions:
            return functions[lowered](*numbers)
    if type_name == "datetime" and arguments is None and lowered in ("now", "utcnow"):
        return datetime.now(UTC)
    if type_name == "string" and arguments is not None:
        if lowered == "isnullorempty" and len(arguments) == 1:
            return to_string(arguments[0]) == ""
        if lowered == "isnullorwhitespace" and len(arguments) == 1:
            return to_string(arguments[0]).strip() == ""
        if lowered == "join" and len(arguments) >= 2:
            values = unroll(arguments[1]) if len(arguments) == 2 else arguments[1:]
            return to_string(arguments[0]).join(to_string(v) for v in values)
    if type_name == "string" and arguments is None and lowered == "empty":
        return ""
    if type_name in ("int", "long") and arguments is None and lowered in ("maxvalue", "minvalue"):
        bits = 31 if type_name == "int" else 63
        return (2**bits - 1) if lowered == "maxvalue" else -(2**bits)
    if type_name == "guid" and arguments is not None and lowered == "newguid":
        import uuid

        return uuid.uuid4()
    full = TYPE_FULL_NAMES.get(type_name, type_name)
    if arguments is None:
        raise PSError(
            f'Cannot find an overload for "{name}" and the argument count: "0".',
            error_id="PropertyNotFound",
            category="InvalidOperation",
        )
    raise PSError(
        f"Method invocation failed because [{full}] does not contain a method named '{name}'.",
        error_id="MethodNotFound",
        category="InvalidOperation",
    )


def _cast(ev: Evaluator, expr: Cast) -> Any:
    value = ev.eval(expr.operand)
    if expr.type_name == "pscustomobject" and isinstance(expr.operand, HashLiteral):
        return CASTS["pscustomobject"](value)
    if expr.type_name == "string" and isinstance(value, list | tuple):
        return to_string(ev.variables.get("ofs", " ")).join(to_string(v) for v in value)
    if expr.type_name in ("int", "long", "double") and isinstance(value, enum.Enum):
        return value.value
    return CASTS[expr.type_name](value)


_EXEC: dict[type, Callable[[Evaluator, Any], list[Any]]] = {
    Pipeline: Evaluator.run_pipeline,
    Assignment: Evaluator._assignment,
    Exit: Evaluator._exit,
    Throw: Evaluator._throw,
    Return: Evaluator._return,
    LoopControl: Evaluator._loop_control,
    If: Evaluator._if,
    Foreach: Evaluator._foreach,
    Try: Evaluator._try,
}

_EVAL: dict[type, Callable[[Evaluator, Any], Any]] = {
    Literal: lambda ev, expr: expr.value,
    Bareword: lambda ev, expr: expr.value,
    ExpandableString: Evaluator._expandable,
    Variable: Evaluator._variable,
    Member: lambda ev, expr: get_member(ev.eval(expr.target), expr.name),
    MethodCall: Evaluator._method,
    Index: Evaluator._index,
    TypeLiteral: lambda ev, expr: expr.type_name,
    StaticMember: Evaluator._static,
    Cast: _cast,
    Unary: Evaluator._unary,
    Binary: Evaluator._binary,
    ArrayList: lambda ev, expr: [ev.eval(item) for item in expr.items],
    ArraySubexpression: lambda ev, expr: ev._statements_output(expr.statements),
    Subexpression: lambda ev, expr: _single(ev._statements_output(expr.statements)),
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
