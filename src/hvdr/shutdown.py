"""Leaving the process without Temporal's exit crash.

The Temporal SDK's Rust threads can still hold Python objects while the interpreter finalizes, which aborts the
process with "PyGILState_Release: thread state ... must be current" (sdk-python #300). The CLI, the worker and
scripts written against ``hvdr.Client`` therefore flush their streams and leave with ``os._exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import traceback
from collections.abc import Coroutine
from typing import Any, NoReturn


def exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)  # sys.exit("message") prints the message, as the interpreter would
    return 1


def leave(code: int) -> NoReturn:
    """Flush stdout and stderr, then end the process with ``code`` before interpreter finalization."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe has nothing left to flush to
            stream.flush()
    os._exit(code)


def run(main: Coroutine[Any, Any, object]) -> NoReturn:
    """``asyncio.run(main)`` for scripts that use ``hvdr.Client``, then leave as the CLI does.

    The exit status is what the interpreter would give: 0, the ``SystemExit`` code, 130 on Ctrl-C, or 1 with
    the traceback printed for any other exception.
    """
    code = 0
    try:
        asyncio.run(main)
    except SystemExit as exc:
        code = exit_code(exc)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # printed as the interpreter would; the status says it failed
        traceback.print_exc()
        code = 1
    leave(code)
