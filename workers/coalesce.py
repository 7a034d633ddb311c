"""Gathering a queue's owed items into bigger batches while its worker is busy.

The relay sends a queue's new items at once, unless the batch it sent that
queue before is still waiting in it (its worker has not taken it yet). Then
the new items are held, and go out together, as one batch, as soon as that
batch is taken. Holding costs no latency, since the worker could not have
started them any sooner, and under load a batch carries every item that
arrived while the worker was busy, instead of one item each."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from redis import Redis
from rq.job import Job


class Queued(Protocol):
    """What the coalescer needs of an owed item."""

    @property
    def item_id(self) -> str: ...

    @property
    def queue(self) -> str: ...

    @property
    def batch_id(self) -> str: ...


T = TypeVar("T", bound=Queued)


class Coalescer(Generic[T]):
    """Per queue: the items held back, and the batch last sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, list[T]] = {}
        self._last_sent: dict[str, str] = {}

    def hold(self, items: Sequence[T]) -> None:
        with self._lock:
            for item in items:
                self._held.setdefault(item.queue, []).append(item)

    def holding(self) -> bool:
        with self._lock:
            return bool(self._held)

    def take_ready(self, redis: Redis) -> list[list[T]]:
        """The held items of each queue whose last batch is no longer waiting
        in it, one group per queue (oldest first)."""
        with self._lock:
            last = {q: self._last_sent.get(q) for q in self._held}
        asked = [q for q, batch_id in last.items() if batch_id]
        with redis.pipeline(transaction=False) as pipe:
            for queue in asked:
                pipe.hget(Job.key_for(str(last[queue])), "status")
            waiting = {q for q, s in zip(asked, pipe.execute(), strict=True) if s == b"queued"}
        with self._lock:
            return [self._held.pop(q) for q in list(self._held) if q not in waiting]

    def sent(self, queue: str, batch_id: str) -> None:
        with self._lock:
            self._last_sent[queue] = batch_id

    def put_back(self, items: Sequence[T]) -> None:
        """Items that could not be sent (Redis or the database is away)."""
        with self._lock:
            for item in reversed(items):
                self._held.setdefault(item.queue, []).insert(0, item)


def one_batch_id(items: Sequence[Queued]) -> tuple[str, list[str]]:
    """The id a group goes out under (its newest item's), and the items owed
    under an older id, whose rows must be renamed to it."""
    batch_id = items[-1].batch_id
    return batch_id, [i.item_id for i in items if i.batch_id != batch_id]
