"""The relay's coalescer (workers/coalesce.py) on a real Redis: a queue's new
items wait while the batch sent before is still queued, and a queue whose
work can wait (its family's ``gather_s``) also waits that long after its
last batch went out, so its items go out together in one job."""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis
from rq import Queue

from workers.coalesce import Coalescer
from workers.resources.network import NETWORK, NETWORK_NODE
from workers.routes import ROUTING


@dataclass(frozen=True)
class Item:
    item_id: str
    queue: str
    batch_id: str


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _send(coalescer: Coalescer[Item], redis: Redis) -> list[list[str]]:
    """What a flush would send now; each group is enqueued (status queued)."""
    groups = coalescer.take_ready(redis)
    for group in groups:
        batch_id = group[-1].batch_id
        Queue(group[0].queue, connection=redis).enqueue_call("builtins.print", job_id=batch_id)
        coalescer.sent(group[0].queue, batch_id)
    return [[i.item_id for i in group] for group in groups]


def test_items_wait_while_the_queue_s_last_batch_is_still_queued(redis_url: str) -> None:
    redis, coalescer = Redis.from_url(redis_url), Coalescer[Item]()
    coalescer.hold([Item("a", "q", "b1")])
    assert _send(coalescer, redis) == [["a"]]
    coalescer.hold([Item("b", "q", "b2"), Item("c", "q", "b2")])
    assert _send(coalescer, redis) == []  # b1 still waits in the queue
    redis.hset("rq:job:b1", "status", "started")  # its worker took it
    assert _send(coalescer, redis) == [["b", "c"]]


def test_a_queue_that_gathers_sends_at_most_one_batch_per_its_time(redis_url: str) -> None:
    redis, clock = Redis.from_url(redis_url), Clock()
    coalescer = Coalescer[Item](lambda q: 0.2 if q == "node" else 0.0, clock)
    coalescer.hold([Item("a", "node", "b1"), Item("x", "host", "h1")])
    assert sorted(_send(coalescer, redis)) == [["a"], ["x"]]  # the first goes at once
    for job_id in ("b1", "h1"):
        redis.hset(f"rq:job:{job_id}", "status", "finished")  # taken and run at once

    clock.now += 0.05
    coalescer.hold([Item("b", "node", "b2"), Item("y", "host", "h2")])
    assert _send(coalescer, redis) == [["y"]]  # only the node's items wait
    clock.now += 0.1
    coalescer.hold([Item("c", "node", "b3")])
    assert _send(coalescer, redis) == []
    assert coalescer.holding()

    clock.now += 0.06  # 0.21 s after the node's last batch
    assert _send(coalescer, redis) == [["b", "c"]]  # one batch for both
    assert not coalescer.holding()


def test_the_network_queues_gather_and_the_compute_queues_do_not() -> None:
    assert ROUTING.gather_s(NETWORK_NODE.queue()) == NETWORK_NODE.gather_s > 0
    assert ROUTING.gather_s(NETWORK.queue("compute-1")) == NETWORK.gather_s > 0
    assert ROUTING.gather_s("compute.compute-1") == 0.0
