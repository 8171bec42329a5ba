"""PowerShell error records as ``powershell -EncodedCommand`` writes them to stderr over WinRM (CLIXML).

The text inside the ``<S S="Error">`` lines is PowerShell's default error view (``Cmdlet : message``,
``At line:L char:C``, ``+ CategoryInfo``, ``+ FullyQualifiedErrorId``), which is what a client of a real
host has to parse; pywinrm's ``Session._clean_error_msg`` concatenates those lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CLIXML_HEADER = "#< CLIXML\r\n"
_OBJS_OPEN = '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
_ESCAPED_UNDERSCORE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")
_PROGRESS = (
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
    '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.'
    "</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>"
)


@dataclass
class ErrorRecord:
    """One error as PowerShell's error view prints it."""

    message: str
    error_id: str
    category: str
    reason: str
    command: str | None = None
    fqid_suffix: str | None = None
    target: str | None = None
    span: tuple[int, int] | None = None
    parser_error: bool = False
    prefix: str | None = None
    """What the view prints before the message instead of the command name (Write-Error: the statement)."""

    @property
    def fully_qualified_error_id(self) -> str:
        return f"{self.error_id},{self.fqid_suffix}" if self.fqid_suffix else self.error_id


def _position_lines(script: str, span: tuple[int, int]) -> list[str]:
    start, end = span
    start = max(0, min(start, len(script)))
    line_no = script.count("\n", 0, start) + 1
    line_start = script.rfind("\n", 0, start) + 1
    line_end = script.find("\n", start)
    line_end = len(script) if line_end < 0 else line_end
    line = script[line_start:line_end].rstrip("\r")
    col = start - line_start
    width = max(1, min(end, line_start + len(line)) - start)
    return [f"At line:{line_no} char:{col + 1}", f"+ {line}", "+ " + " " * col + "~" * width]


def render_error(record: ErrorRecord, script: str) -> list[str]:
    """The lines of PowerShell's default error view for one record."""
    position = _position_lines(script, record.span) if record.span else []
    message_lines = record.message.splitlines() or [""]
    target = f"{record.target}:String" if record.target else ":"
    info = f"{record.category}: ({target}) [{record.command or ''}], {record.reason}"
    trailer = [
        f"    + CategoryInfo          : {info}",
        f"    + FullyQualifiedErrorId : {record.fully_qualified_error_id}",
        " ",
    ]
    if record.parser_error:
        return position + message_lines + trailer
    if record.prefix or record.command:
        message_lines[0] = f"{record.prefix or record.command} : {message_lines[0]}"
    return message_lines + position + trailer


def _encode(text: str) -> str:
    text = _ESCAPED_UNDERSCORE.sub("_x005F_", text)
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code in (0xFFFE, 0xFFFF):
            out.append(f"_x{code:04X}_")
        elif ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        else:
            out.append(ch)
    return "".join(out)


def to_clixml(records: list[ErrorRecord], script: str, *, progress: bool = False) -> str:
    """The whole stderr text: ``#< CLIXML`` then one ``<Objs>`` with an ``<S S="Error">`` per line."""
    parts = [CLIXML_HEADER, _OBJS_OPEN]
    if progress:
        parts.append(_PROGRESS)
    for record in records:
        for line in render_error(record, script):
            parts.append(f'<S S="Error">{_encode(line + chr(13) + chr(10))}</S>')
    parts.append("</Objs>")
    return "".join(parts)
