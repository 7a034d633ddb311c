"""Asking a compute host a question and waiting for its answer, as Nova's
API calls nova-compute over RPC: a job on the host's queue whose result
comes back through Redis. Only for queries (a console's output); changes
go through the ledger and the relay."""

from __future__ import annotations

import time
from typing import Any

import redis
from rq import Queue
from rq.job import JobStatus
from starlette.concurrency import run_in_threadpool

from domain.errors import Conflict

CALL_TIMEOUT_S = 10.0


class HostUnavailable(Conflict):
    """The host did not answer in time (Nova: 409 'instance not ready')."""


class HostCalls:
    def __init__(self, redis_url: str) -> None:
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)

    def _call(self, queue: str, func: str, args: tuple[Any, ...]) -> Any:
        try:
            job = Queue(queue, connection=self._redis).enqueue(
                func, *args, result_ttl=60, ttl=int(CALL_TIMEOUT_S), failure_ttl=60
            )
            deadline = time.monotonic() + CALL_TIMEOUT_S
            while time.monotonic() < deadline:
                status = job.get_status(refresh=True)
                if status == JobStatus.FINISHED:
                    return job.return_value(refresh=True)
                if status == JobStatus.FAILED:
                    break
                time.sleep(0.02)
        except redis.RedisError:
            pass
        raise HostUnavailable("The compute host did not answer; try again later.")

    async def call(self, queue: str, func: str, *args: Any) -> Any:
        return await run_in_threadpool(self._call, queue, func, args)
