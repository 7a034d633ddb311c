"""Jobs each worker role has run and seen fail, counted in Redis.

Every worker process adds to one hash, so the counts are the role's, across
its processes and their restarts (not across a Redis that lost its data:
Prometheus takes a counter that drops as a reset). GET /metrics reads it."""

from __future__ import annotations

from redis import Redis

KEY = "cloudledger:jobs"
OUTCOMES = ("run", "failed")


def record(connection: Redis, role: str, succeeded: bool) -> None:
    """Count one job of ``role``: run, and failed too if it did not succeed."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.hincrby(KEY, f"{role}:run", 1)
        if not succeeded:
            pipe.hincrby(KEY, f"{role}:failed", 1)
        pipe.execute()


def read(connection: Redis) -> dict[tuple[str, str], int]:
    """(role, outcome) -> jobs; outcome is "run" or "failed"."""
    counts = {}
    for field, value in connection.hgetall(KEY).items():
        name = field.decode() if isinstance(field, bytes) else str(field)
        role, _, outcome = name.rpartition(":")
        counts[role, outcome] = int(value)
    return counts
