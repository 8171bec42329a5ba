"""Text from outside hvdr made safe to show: control characters escaped, credentials in URLs masked.

Names from topology files and hosts, host messages and exception texts reach terminals, logs and error
messages. ``escape_controls`` keeps them from moving the cursor, forging lines or changing colours;
``mask_credentials`` keeps the password of any ``scheme://user:password@host`` out of what is shown;
``SafeLogFormatter`` applies both to every log line the CLI's processes write.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

# C0 and C1 controls, DEL, lone surrogates, line/paragraph separators and the bidirectional overrides
# (which reorder what a terminal shows: "Trojan source").
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every character that could control a terminal shown as an escape (``\\x1b``, ``\\n``)."""
    return _UNSAFE.sub(_escape, text)


def unsafe_character(text: str) -> str | None:
    """The first character of ``text`` that ``escape_controls`` would escape, or None."""
    found = _UNSAFE.search(text)
    return found.group() if found else None


def describe_character(char: str) -> str:
    """``'\\x1b' (ESCAPE)`` — a character named for an error message."""
    surrogate = 0xD800 <= ord(char) <= 0xDFFF
    name = unicodedata.name(char, "") or ("a lone surrogate" if surrogate else "a control character")
    return f"'{escape_controls(char)}' ({name})"


# scheme://user:password@host  or  scheme://password@host  (the user info before the last @ of the authority)
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#\s]*)@")


def _mask(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    user, sep, _password = userinfo.partition(":")
    return f"{match.group('scheme')}{user}:***@" if sep else f"{match.group('scheme')}***@"


def mask_credentials(text: str) -> str:
    """``text`` with the credentials of every URL in it masked: ``postgresql://hvdr:***@db/hvdr``."""
    return _URL_USERINFO.sub(_mask, text)


def shown(text: object) -> str:
    """Anything from outside hvdr as it may be shown: credentials masked, then control characters escaped."""
    return escape_controls(mask_credentials(str(text)))


class SafeLogFormatter(logging.Formatter):
    """Log lines with URL credentials masked and control characters escaped: a host's error text in a log can
    neither forge a log line (its newlines are escaped) nor drive the terminal that shows it. Tracebacks keep
    their lines, each escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return shown(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return "\n".join(shown(line) for line in super().formatException(ei).split("\n"))

    def formatStack(self, stack_info: str) -> str:
        return "\n".join(shown(line) for line in super().formatStack(stack_info).split("\n"))
