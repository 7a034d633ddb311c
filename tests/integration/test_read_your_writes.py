"""The API's read-your-writes wait: woken by the projector's NOTIFY, bounded,
and a clear error (not a hang) when a read model is stuck."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from api.errors import ProjectionBehind
from api.progress import ProjectionProgress
from projections.view import PROGRESS_CHANNEL


def _notify(database_url: str, payload: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (PROGRESS_CHANNEL, payload))


async def _started(database_url: str) -> ProjectionProgress:
    progress = ProjectionProgress(database_url, ["servers", "quotas"])
    await progress.start(wait_ready=5.0)
    assert progress.ready.is_set()
    return progress


def test_a_write_waits_until_the_projector_reports_its_position(database_url: str) -> None:
    async def scenario() -> float:
        progress = await _started(database_url)
        try:
            loop = asyncio.get_running_loop()
            loop.call_later(0.2, _notify, database_url, "servers:7")
            started = time.monotonic()
            await progress.wait({"servers": 7}, timeout=5)
            return time.monotonic() - started
        finally:
            await progress.stop()

    waited = asyncio.run(scenario())
    assert 0.15 < waited < 1.0  # woken by the NOTIFY, not by the timeout


def test_a_stuck_read_model_gives_a_clear_error_after_the_bound(database_url: str) -> None:
    async def scenario() -> None:
        progress = await _started(database_url)
        try:
            _notify(database_url, "servers:9")  # servers caught up; quotas never does
            await progress.wait({"servers": 9, "quotas": 9}, timeout=0.3)
        finally:
            await progress.stop()

    started = time.monotonic()
    with pytest.raises(ProjectionBehind, match="the quotas read model is behind"):
        asyncio.run(scenario())
    assert time.monotonic() - started < 2.0
