"""The combiner: requests waiting for one key's turn run together, each gets
its own outcome, and a failure of the whole run reaches every caller."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest

from commands.combining import Combiner

KEY = uuid4()


def test_requests_waiting_for_the_turn_run_in_one_batch() -> None:
    batches: list[list[int]] = []
    started, release = threading.Event(), threading.Event()

    def run_all(requests: Sequence[int]) -> list[int | BaseException]:
        batches.append(list(requests))
        if requests == [0]:
            started.set()
            release.wait(5)  # the first holds the turn while the others queue
        return [r * 10 if r % 3 else ValueError(f"no {r}") for r in requests]

    combiner: Combiner[int, int] = Combiner(run_all)

    def call(n: int) -> int | str:
        try:
            return combiner.run(KEY, n)
        except ValueError as exc:
            return str(exc)

    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(call, 0)
        assert started.wait(5)
        rest = [pool.submit(call, n) for n in range(1, 8)]
        time.sleep(0.2)  # all seven are waiting for the turn
        release.set()
        results = [first.result(), *(f.result() for f in rest)]

    assert results == ["no 0", 10, 20, "no 3", 40, 50, "no 6", 70]
    assert batches[0] == [0]
    assert sorted(batches[1]) == list(range(1, 8)) and len(batches) == 2


def test_a_failing_run_reaches_every_caller_of_its_batch() -> None:
    def run_all(requests: Sequence[int]) -> list[int | BaseException]:
        raise RuntimeError("the database went away")

    combiner: Combiner[int, int] = Combiner(run_all)
    with pytest.raises(RuntimeError, match="went away"):
        combiner.run(KEY, 1)


def test_different_keys_do_not_wait_for_each_other() -> None:
    combiner: Combiner[str, str] = Combiner(lambda reqs: [r.upper() for r in reqs])
    assert combiner.run(uuid4(), "a") == "A"
    assert combiner.run(uuid4(), "b") == "B"
