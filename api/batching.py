"""Requests of one key gathered in the event loop and run in one worker thread.

A boot waits for its project's quota; while one batch of a project's boots
runs (in a thread, since the command side is synchronous), the boots that
arrive queue here as futures, holding no thread, and go together in the
next batch (see commands/combining.py for why one save serves them all).
A project's stops, starts and deletes are batched the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextvars import Context
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

Req = TypeVar("Req")
Res = TypeVar("Res")


class AsyncBatcher(Generic[Req, Res]):
    """Per key: waiting requests, and at most one batch running."""

    def __init__(
        self,
        run_all: Callable[[Sequence[Req]], Sequence[Res | BaseException]],
        prepare: Callable[[str, list[Req]], Awaitable[list[Req]]] | None = None,
    ) -> None:
        self._run_all = run_all
        # Reads a batch needs, done once for all its requests in the event
        # loop before the batch runs (``prepare(key, requests)``).
        self._prepare = prepare
        self._waiting: dict[str, list[tuple[Req, asyncio.Future[Res]]]] = {}
        self._drainers: dict[str, asyncio.Task[None]] = {}

    async def run(self, key: str, request: Req) -> Res:
        future: asyncio.Future[Res] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append((request, future))
        if key not in self._drainers:
            # A context of its own: the batch runs for many requests, and its
            # log lines must not carry only the first one's id (commands/logs.py).
            self._drainers[key] = asyncio.create_task(self._drain(key), context=Context())
        return await future

    async def _drain(self, key: str) -> None:
        try:
            while batch := self._waiting.pop(key, []):
                try:
                    requests = [r for r, _ in batch]
                    if self._prepare is not None:
                        requests = await self._prepare(key, requests)
                    outcomes = await run_in_threadpool(self._run_all, requests)
                except Exception as exc:  # every request of the batch learns of it
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # its request was cancelled
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            del self._drainers[key]
