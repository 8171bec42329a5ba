"""The ping activity: runs on the site's worker and says where it ran."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from temporalio import activity

from hvdr.models import PingReply, PingRequest


@activity.defn(name="ping_site")
async def ping_site(request: PingRequest) -> PingReply:
    info = activity.info()
    return PingReply(
        site=request.site,
        worker_identity=activity.client().identity,
        worker_host=socket.gethostname(),
        task_queue=info.task_queue,
        answered_at=datetime.now(UTC),
    )
