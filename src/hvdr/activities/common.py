"""What every host activity shares: run the blocking driver off the event loop, map its errors once.

A driver error becomes ``ApplicationError(type=<class name>, non_retryable=not retryable)``, so Temporal
retries transient ones (host unreachable, WinRM timeout) with backoff and hands permanent ones (invalid
state, VM not found, bad credentials) to the workflow at once; the workflow matches on the type name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError

from hvdr.errors import ConfigError, HvdrError, NotFound
from hvdr.hyperv.errors import HyperVError, cap

P = ParamSpec("P")
R = TypeVar("R")


def as_application_error(exc: HvdrError) -> ApplicationError:
    retryable = isinstance(exc, HyperVError) and exc.retryable
    details = []
    if isinstance(exc, HyperVError):
        details.append({"host": exc.host, "error_id": exc.error_id, "state": getattr(exc, "state", None)})
    return ApplicationError(cap(exc.message), *details, type=type(exc).__name__, non_retryable=not retryable)


async def call(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a driver call in a thread; hvdr errors leave as ApplicationErrors of the same name."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except (HyperVError, ConfigError, NotFound) as exc:
        raise as_application_error(exc) from None
