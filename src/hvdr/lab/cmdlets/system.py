"""Cmdlets of PowerShell itself that the driver uses, answered from the lab's clock."""

from __future__ import annotations

from typing import Any

from hvdr.lab.cmdlets.base import Context, cmdlet
from hvdr.lab.models.clock import to_datetime


@cmdlet("Get-Date")
def get_date(ctx: Context, bound: dict[str, Any]) -> list[Any]:
    """The host's clock: the lab's simulated time (so RPO = host time - last replication is consistent)."""
    return [to_datetime(ctx.now)]
