"""`hvdr protect enable --cloud` as a user runs it against a running estate: runs start together, one
aggregate progress display follows them and returns when all settle, with a summary; commands by cloud
answer one line per VM."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.cli.helpers import Result, hvdr
from tests.e2e.conftest import Estate

pytestmark = pytest.mark.slow


async def _hvdr(*args: str) -> Result:
    env = {k: v for k, v in os.environ.items() if k.startswith("HVDR_")}  # the estate's home and server
    return await asyncio.to_thread(hvdr, *args, env=env, timeout=300)


async def test_enable_a_cloud_with_one_progress_display_then_command_it(estate: Estate) -> None:
    enabled = await _hvdr("protect", "enable", "--cloud", "cloud-a", "--time-scale", "300", "--timeout", "240")
    assert enabled.code == 0, enabled.out + enabled.err
    assert "Started protection runs for 12 VM(s)" in enabled.out, enabled.out
    assert "12/12 VM(s) replicating. 12 VM(s): 12 replicating" in enabled.out, enabled.out
    assert enabled.out.count("protect/") <= 3, "one aggregate display, not a row per VM"

    again = await _hvdr("protect", "enable", "--cloud", "cloud-a", "--no-wait")
    assert again.code == 0 and "Started protection runs for 12 VM(s)" in again.out, again.out + again.err
    assert "hvdr status" in again.out

    paused = await _hvdr("protect", "pause", "--cloud", "cloud-a")
    assert paused.code == 0, paused.out + paused.err
    assert sum(line.endswith("(now paused)") for line in paused.out.splitlines()) == 12, paused.out

    refused = await _hvdr("protect", "pause", "--vm", "db-01")
    assert refused.code != 0 and "Traceback" not in refused.err
    assert refused.err.startswith("error: ") and "db-01" in refused.err, refused.err
