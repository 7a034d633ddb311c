"""Worker heartbeats for os-services, read off the event loop (the reading
itself is workers/heartbeats.py, which the scheduler shares)."""

from __future__ import annotations

from datetime import datetime

from starlette.concurrency import run_in_threadpool

from workers.heartbeats import Beats, WorkerHeartbeats

__all__ = ["Beats", "Heartbeats"]


class Heartbeats:
    def __init__(self, redis_url: str, down_after_s: float) -> None:
        self._beats = WorkerHeartbeats(redis_url, down_after_s)

    async def last_seen(self) -> Beats:
        """Each role's latest heartbeat (roles with none are absent)."""
        return await run_in_threadpool(self._beats.last_seen)

    async def running_since(self) -> dict[str, datetime]:
        """When each role's oldest running worker started."""
        return await run_in_threadpool(self._beats.running_since)
