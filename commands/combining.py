"""Requests that change one aggregate, combined into one save.

Every boot of a project reserves on that project's one Quota aggregate, so
concurrent boots of one project must take turns. Rather than each holding
the turn for its own load-decide-save, whoever has the turn runs every
request waiting for it, in one pass and one save: under load, one round of
database round trips serves many requests instead of one."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import UUID

Req = TypeVar("Req")
Res = TypeVar("Res")


@dataclass
class _Slot(Generic[Req, Res]):
    request: Req
    done: bool = False
    result: Res | None = None
    error: BaseException | None = None


class Combiner(Generic[Req, Res]):
    """Per key: a queue of waiting requests and the turn to run them.

    ``run_all(requests)`` must return one result or exception per request, in
    order; an exception it raises itself is given to every request it ran."""

    def __init__(self, run_all: Callable[[Sequence[Req]], Sequence[Res | BaseException]]) -> None:
        self._run_all = run_all
        self._guard = threading.Lock()
        self._turns: dict[UUID, threading.Lock] = {}
        self._waiting: dict[UUID, list[_Slot[Req, Res]]] = {}

    def run(self, key: UUID, request: Req) -> Res:
        slot: _Slot[Req, Res] = _Slot(request)
        with self._guard:
            turn = self._turns.setdefault(key, threading.Lock())
            self._waiting.setdefault(key, []).append(slot)
        with turn:
            if not slot.done:  # nobody ran it while we waited: run everyone waiting
                with self._guard:
                    batch = self._waiting.pop(key, [])
                if not any(s is slot for s in batch):  # taken by a runner that died
                    batch.append(slot)
                self._run(batch)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _run(self, batch: list[_Slot[Req, Res]]) -> None:
        try:
            outcomes: Sequence[Res | BaseException] = self._run_all([s.request for s in batch])
        except Exception as exc:  # handed to every caller in the batch
            outcomes = [exc] * len(batch)
        for slot, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                slot.error = outcome
            else:
                slot.result = outcome
            slot.done = True
