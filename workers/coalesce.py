"""Gathering a queue's owed items into bigger batches while its worker is busy.

The relay sends a queue's new items at once, unless the batch it sent that
queue before is still waiting in it (its worker has not taken it yet). Then
the new items are held, and go out together, as one batch, as soon as that
batch is taken. Holding costs no latency, since the worker could not have
started them any sooner, and under load a batch carries every item that
arrived while the worker was busy, instead of one item each.

A queue whose work can wait (its family's ``gather_s``) also holds its
items until that long after its last batch went out: each job costs its
worker a few milliseconds of RQ's own CPU whatever it carries, so a quick
worker that took every batch at once ran one job per relay batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from math import inf
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
    """Per queue: the items held back, and the batch last sent (and when)."""

    def __init__(
        self,
        gather_s: Callable[[str], float] = lambda queue: 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, list[T]] = {}
        self._last_sent: dict[str, str] = {}
        self._sent_at: dict[str, float] = {}
        self._gather_s, self._clock = gather_s, clock

    def hold(self, items: Sequence[T]) -> None:
        with self._lock:
            for item in items:
                self._held.setdefault(item.queue, []).append(item)

    def holding(self) -> bool:
        with self._lock:
            return bool(self._held)

    def take_ready(self, redis: Redis) -> list[list[T]]:
        """The held items of each queue whose last batch is no longer waiting
        in it and whose gathering time is over, one group per queue (oldest
        first)."""
        now = self._clock()
        with self._lock:
            gathering = {
                q for q in self._held if now < self._sent_at.get(q, -inf) + self._gather_s(q)
            }
            last = {q: self._last_sent.get(q) for q in self._held if q not in gathering}
        asked = [q for q, batch_id in last.items() if batch_id]
        with redis.pipeline(transaction=False) as pipe:
            for queue in asked:
                pipe.hget(Job.key_for(str(last[queue])), "status")
            waiting = {q for q, s in zip(asked, pipe.execute(), strict=True) if s == b"queued"}
        with self._lock:
            return [self._held.pop(q) for q in list(self._held) if q in last and q not in waiting]

    def sent(self, queue: str, batch_id: str) -> None:
        with self._lock:
            self._last_sent[queue] = batch_id
            self._sent_at[queue] = self._clock()

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
