"""Abort a running host command from another thread: the caller sets an event, the transport stops.

Kept apart from the transport so that callers (activities) can set the scope without importing an HTTP stack.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar

_abort: ContextVar[threading.Event | None] = ContextVar("hvdr_transport_abort", default=None)


@contextlib.contextmanager
def abort_scope(event: threading.Event) -> Iterator[None]:
    """Scripts run in this scope (this thread or context) stop when ``event`` is set: a command not yet sent
    is not sent (WinRMTimeout), a running one is terminated (OutcomeUnknown: it may have run)."""
    token = _abort.set(event)
    try:
        yield
    finally:
        _abort.reset(token)


def abort_requested() -> threading.Event | None:
    """The event of the enclosing :func:`abort_scope`, if any."""
    return _abort.get()
