"""`cloudledger status`: where the pipeline stands, for an operator.

The ledger's head and how far behind each read model is, what the relay
owes (by kind and queue), what waits in each RQ queue, and the instance
operations in flight against the admission bounds."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier
from redis import Redis, RedisError
from rq import Queue

from commands.bootstrap import Settings
from projections.registry import VIEW_CLASSES
from projections.view import APPLICATION_NAME

FOLLOWERS = (*(v.name for v in VIEW_CLASSES), "relay")


def ledger_head(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT max(notification_id) FROM cloudledger_events").fetchone()
    return int(row[0] or 0) if row else 0


def follower_positions(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Each read model's (and the relay's) tracked position, 0 if none yet."""
    positions = {}
    for name in FOLLOWERS:
        query = SQL("SELECT notification_id FROM {} WHERE application_name=%s").format(
            Identifier(f"{name}_tracking")
        )
        row = conn.execute(query, (APPLICATION_NAME,)).fetchone()
        positions[name] = int(row[0]) if row else 0
    return positions


def report(settings: Settings) -> str:
    lines = []
    with psycopg.connect(settings.database_url) as conn:
        last = ledger_head(conn)
        lines.append(f"ledger: {last} events")
        for name, position in follower_positions(conn).items():
            lines.append(f"  {name:<10} at {position:>10}  behind by {last - position}")
        owed = conn.execute(
            "SELECT kind, queue, count(*) FROM relay_pending GROUP BY kind, queue ORDER BY 2, 1"
        ).fetchall()
        lines.append(
            "relay owes: " + (", ".join(f"{k} on {q}: {n}" for k, q, n in owed) or "nothing")
        )
        flight = conn.execute(
            "SELECT count(*) FROM servers WHERE task_state IS NOT NULL"
        ).fetchone()
        in_flight = int(flight[0]) if flight else 0
    lines.append(
        f"in flight: {in_flight} instance operations; boots are refused (429) from "
        f"{settings.max_in_flight} in all or {settings.max_project_in_flight} in one project"
    )
    redis = Redis.from_url(settings.redis_url)
    try:
        queues = sorted(Queue.all(connection=redis), key=lambda q: q.name)
        lines.append("queues: " + (", ".join(f"{q.name}: {q.count}" for q in queues) or "none yet"))
    finally:
        redis.close()
    return "\n".join(lines)


def main_status(settings: Settings) -> int:
    try:
        print(report(settings))
    except (psycopg.Error, RedisError) as exc:
        print(f"cloudledger status: cannot reach the stack (is it running?): {exc}")
        return 1
    return 0
