"""Which workflows and activities run where. The only place registrations are listed; tests reuse it.

Workflows run on the shared workflow task queue (any worker may run any workflow: they only decide).
Activities that touch a site's hosts run on that site's queue, ``hvdr-site-<site>``, polled only by the
workers that sit in (or can reach) that site.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hvdr.activities.ping import ping_site
from hvdr.workflows.ping import PingWorkflow

WORKFLOWS: Sequence[type] = (PingWorkflow,)

SITE_ACTIVITIES: Sequence[Callable[..., Any]] = (ping_site,)
