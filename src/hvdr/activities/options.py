"""How workflows call host activities, per kind: timeouts, heartbeat and a capped retry policy.

- start-to-close exceeds the driver's own budget for a command (``HostEndpoint.command_timeout_s``) plus the
  reads around it, so Temporal never starts attempt 2 while attempt 1's cmdlet may still run: the driver
  stops it first and the activity returns;
- a heartbeat timeout of 45 s notices a dead worker in under a minute (activities heartbeat every 10 s while a
  command runs), instead of at the end of start-to-close;
- schedule-to-start bounds the wait for a site's worker, so a site without one fails the step with a timeout
  rather than waiting silently (a schedule-to-start timeout is not retried);
- retries are capped by attempts and interval: transient host errors get a few minutes, an unexpected error
  (a bug) a handful of attempts, not a day. Permanent driver errors are non-retryable at the source
  (:func:`hvdr.activities.common.as_application_error`), and listed here too, by name, for errors raised by
  other code than the driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from hvdr.hyperv.connection import HostEndpoint
from hvdr.hyperv.errors import (
    AuthenticationFailed,
    InvalidParameter,
    InvalidReplicationState,
    InvalidVMState,
    ReplicationAuthenticationFailed,
    ScriptFailed,
    ScriptTimedOut,
    VMNotFound,
)

DRIVER_BUDGET = timedelta(seconds=HostEndpoint.model_fields["command_timeout_s"].default)

NON_RETRYABLE = [
    cls.__name__
    for cls in (
        AuthenticationFailed,
        ReplicationAuthenticationFailed,
        VMNotFound,
        InvalidReplicationState,
        InvalidVMState,
        InvalidParameter,
        ScriptFailed,
        ScriptTimedOut,
    )
] + ["ConfigError", "NotFound"]
"""OutcomeUnknown is not among them: raised by the driver it is retryable (the next attempt reads first);
raised by an activity after its reconcile it is non-retryable on the error itself."""


@dataclass(frozen=True)
class ActivityOptions:
    """Keyword arguments for ``workflow.execute_activity_method`` (``**options.kwargs()``)."""

    start_to_close: timedelta
    heartbeat: timedelta | None
    schedule_to_start: timedelta
    retry: RetryPolicy

    def kwargs(self) -> dict[str, Any]:
        return {
            "start_to_close_timeout": self.start_to_close,
            "heartbeat_timeout": self.heartbeat,
            "schedule_to_start_timeout": self.schedule_to_start,
            "retry_policy": self.retry,
        }


COMMAND = ActivityOptions(
    start_to_close=DRIVER_BUDGET + timedelta(minutes=10),
    heartbeat=timedelta(seconds=45),
    schedule_to_start=timedelta(minutes=10),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=2),
        maximum_attempts=10,
        non_retryable_error_types=NON_RETRYABLE,
    ),
)
"""A state-changing host command (enable, start the copy, suspend, resume, resync, remove, …): about 10
minutes of retries for a host that is rebooting or unreachable, then the workflow decides."""

MEASURE = ActivityOptions(
    start_to_close=timedelta(minutes=2),
    heartbeat=timedelta(seconds=45),
    schedule_to_start=timedelta(minutes=2),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_attempts=2, non_retryable_error_types=NON_RETRYABLE
    ),
)
"""A read taken every tick: one retry, then the tick raises a monitoring alert and the next tick tries again."""
