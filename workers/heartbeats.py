"""Which workers are alive: RQ keeps each worker's registration and last
heartbeat in Redis (expiring when the worker stops beating), never in the
ledger. A worker's name starts with its role (``compute-<host>/...``, see
workers/rq_worker.worker_name)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis
from rq import Worker
from rq.worker import BaseWorker

log = logging.getLogger(__name__)
UP_WITHIN_S = 60.0  # Nova's service_down_time


class WorkerHeartbeats:
    def __init__(self, redis_url: str) -> None:
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)

    def _workers(self) -> list[BaseWorker]:
        try:
            return Worker.all(connection=self._redis)
        except redis.RedisError as exc:  # Redis down: every role shows as down
            log.warning("cannot read worker heartbeats: %s", exc)
            return []

    def _by_role(self, moment: str, latest: bool) -> dict[str, datetime]:
        """Per role, the latest (or earliest) of a worker timestamp."""
        pick = max if latest else min
        found: dict[str, datetime] = {}
        for worker in self._workers():
            at = _utc(getattr(worker, moment))
            if at is not None:
                role = worker.name.split("/", 1)[0]
                found[role] = pick(at, found.get(role, at))
        return found

    def last_seen(self) -> dict[str, datetime]:
        """Each role's latest heartbeat (roles with none are absent)."""
        return self._by_role("last_heartbeat", True)

    def running_since(self) -> dict[str, datetime]:
        """When each role's oldest running worker started."""
        return self._by_role("birth_date", False)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_up(beat: datetime | None, now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    return beat is not None and (now - beat).total_seconds() < UP_WITHIN_S
