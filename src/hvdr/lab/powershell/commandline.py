"""The WinRS command line: ``powershell [-NoProfile …] -EncodedCommand <base64 of UTF-16LE>``.

A WinRS command runs through ``cmd.exe`` unless WINRS_SKIP_CMD_SHELL is set, so the whole command line is
limited to 8191 characters ("The command line is too long."); with the shell skipped the limit is
CreateProcess's 32767.
"""

from __future__ import annotations

import base64
import binascii

CMD_EXE_LIMIT = 8191
CREATE_PROCESS_LIMIT = 32767

_FLAGS = ("nologo", "noprofile", "noninteractive", "executionpolicy", "inputformat", "outputformat", "encodedcommand")
_WITH_VALUE = frozenset({"executionpolicy", "inputformat", "outputformat", "encodedcommand"})
_ALIASES = {"e": "encodedcommand", "ec": "encodedcommand", "ep": "executionpolicy"}


class CommandLineError(Exception):
    """The command never reached PowerShell; ``stderr`` is what cmd.exe or powershell.exe printed."""

    def __init__(self, stderr: str, exit_code: int = 1) -> None:
        super().__init__(stderr)
        self.stderr = stderr
        self.exit_code = exit_code


def _flag(token: str) -> str | None:
    name = token.lstrip("-/").lower()
    if name in _ALIASES:
        return _ALIASES[name]
    matches = [flag for flag in _FLAGS if flag.startswith(name)] if name else []
    return matches[0] if len(matches) == 1 else None


def decode_command_line(command: str, arguments: str = "", *, skip_cmd_shell: bool = False) -> str:
    """The PowerShell script a WinRS command line carries, or :class:`CommandLineError`."""
    line = f"{command} {arguments}".strip() if arguments else command.strip()
    limit = CREATE_PROCESS_LIMIT if skip_cmd_shell else CMD_EXE_LIMIT
    if len(line) > limit:
        raise CommandLineError("The command line is too long.\r\n")
    tokens = line.split()
    if not tokens:
        raise CommandLineError("The syntax of the command is incorrect.\r\n")
    program = tokens[0].strip('"').replace("/", "\\").rsplit("\\", 1)[-1].lower()
    if program not in ("powershell", "powershell.exe"):
        raise CommandLineError(
            f"'{tokens[0]}' is not recognized as an internal or external command,\r\n"
            "operable program or batch file.\r\n"
        )
    encoded: str | None = None
    index = 1
    while index < len(tokens):
        token = tokens[index]
        flag = _flag(token) if token.startswith(("-", "/")) else None
        if flag is None:
            raise CommandLineError(
                f"The lab runs only 'powershell -EncodedCommand <base64>'; it does not accept '{token}'.\r\n"
            )
        if flag in _WITH_VALUE:
            if index + 1 >= len(tokens):
                raise CommandLineError(f"Missing argument for parameter {token}.\r\n")
            if flag == "encodedcommand":
                encoded = tokens[index + 1]
            index += 2
        else:
            index += 1
    if encoded is None:
        raise CommandLineError("The lab runs only 'powershell -EncodedCommand <base64>'.\r\n")
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-16-le")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise CommandLineError(
            "Cannot process the command because the value specified with -EncodedCommand is not properly "
            "encoded. The value must be Base64 encoded.\r\n"
        ) from None
