"""The API's batcher: boots of one project that arrive while a batch runs go
together in the next one, each caller gets its own outcome, and no caller
holds a thread while it waits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from api.batching import AsyncBatcher


def test_requests_arriving_during_a_batch_go_together_in_the_next() -> None:
    batches: list[list[int]] = []
    first_running, release = threading.Event(), threading.Event()

    def run_all(requests: Sequence[int]) -> list[int | BaseException]:
        batches.append(list(requests))
        if requests == [0]:
            first_running.set()
            release.wait(5)
        return [r * 2 if r != 3 else ValueError("no 3") for r in requests]

    async def scenario() -> list[int | str]:
        batcher: AsyncBatcher[int, int] = AsyncBatcher(run_all)

        async def call(n: int) -> int | str:
            try:
                return await batcher.run("project-a", n)
            except ValueError as exc:
                return str(exc)

        first = asyncio.create_task(call(0))
        await asyncio.to_thread(first_running.wait, 5)
        rest = [asyncio.create_task(call(n)) for n in range(1, 6)]
        await asyncio.sleep(0.05)  # all five wait, as futures
        release.set()
        return [await first, *[await t for t in rest]]

    assert asyncio.run(scenario()) == [0, 2, 4, "no 3", 8, 10]
    assert batches == [[0], [1, 2, 3, 4, 5]]


def test_a_failing_batch_fails_each_of_its_requests() -> None:
    def run_all(requests: Sequence[int]) -> list[int | BaseException]:
        raise RuntimeError("the ledger is away")

    async def scenario() -> None:
        await AsyncBatcher(run_all).run("p", 1)

    with pytest.raises(RuntimeError, match="away"):
        asyncio.run(scenario())


def test_a_batch_is_prepared_once_for_all_its_requests_before_it_runs() -> None:
    """What a batch reads for all its requests (a boot's "auto" network) is
    read once per batch, and the batch runs on what it gave."""
    prepared: list[tuple[str, list[int]]] = []
    first_running, release = threading.Event(), threading.Event()

    async def prepare(key: str, requests: list[int]) -> list[int]:
        prepared.append((key, list(requests)))
        return [r + 100 for r in requests]

    def run_all(requests: Sequence[int]) -> list[int | BaseException]:
        if requests == [100]:
            first_running.set()
            release.wait(5)
        return list(requests)

    async def scenario() -> list[int]:
        batcher: AsyncBatcher[int, int] = AsyncBatcher(run_all, prepare=prepare)
        first = asyncio.create_task(batcher.run("p", 0))
        await asyncio.to_thread(first_running.wait, 5)
        rest = [asyncio.create_task(batcher.run("p", n)) for n in (1, 2, 3)]
        await asyncio.sleep(0.05)
        release.set()
        return [await first, *[await t for t in rest]]

    assert asyncio.run(scenario()) == [100, 101, 102, 103]
    assert prepared == [("p", [0]), ("p", [1, 2, 3])]
