"""How far behind the ledger's head each follower of the log is: the read
models and the relay, in events and in seconds. Read from their tracking
tables; `cloudledger status` prints it and GET /metrics exports it."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg import Connection
from psycopg.sql import SQL, Identifier

from projections.registry import VIEW_CLASSES
from projections.view import APPLICATION_NAME

EVENTS_TABLE = "cloudledger_events"
# Every follower of the log with a tracking table: the read models, then the relay.
FOLLOWERS: tuple[str, ...] = (*(v.name for v in VIEW_CLASSES), "relay")


@dataclass(frozen=True)
class Lag:
    """One follower's position and what it has yet to apply."""

    name: str
    position: int
    events: int  # the head's notification id minus the position
    seconds: float | None  # age of the oldest event not yet applied; None: not asked


def head(conn: Connection[Any]) -> int:
    """The last notification id in the ledger (0 if it is empty)."""
    row = conn.execute(SQL("SELECT max(notification_id) FROM {}").format(Identifier(EVENTS_TABLE)))
    found = row.fetchone()
    return int(found[0] or 0) if found else 0


def positions(conn: Connection[Any], names: Sequence[str] = FOLLOWERS) -> dict[str, int]:
    """Each follower's tracked position (0 before its first event)."""
    found = {}
    for name in names:
        query = SQL("SELECT notification_id FROM {} WHERE application_name=%s").format(
            Identifier(f"{name}_tracking")
        )
        row = conn.execute(query, (APPLICATION_NAME,)).fetchone()
        found[name] = int(row[0]) if row else 0
    return found


def read_lags(
    conn: Connection[Any],
    decode: Callable[[StoredEvent], Any] | None = None,
    names: Sequence[str] = FOLLOWERS,
) -> list[Lag]:
    """Every follower's lag. With ``decode`` (the application's mapper's
    ``to_domain_event``) also in seconds: one event read per distinct position."""
    last = head(conn)
    at = positions(conn, names)
    ages: dict[int, float] = {}
    if decode is not None:
        now = datetime.datetime.now(datetime.UTC)
        for position in {p for p in at.values() if p < last}:
            ages[position] = _age_of_next(conn, position, decode, now)
    return [
        Lag(name, p, last - p, ages.get(p, 0.0) if decode is not None else None)
        for name, p in at.items()
    ]


def _age_of_next(
    conn: Connection[Any],
    position: int,
    decode: Callable[[StoredEvent], Any],
    now: datetime.datetime,
) -> float:
    """Seconds since the first event after ``position`` happened."""
    query = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {}"
        " WHERE notification_id > %s ORDER BY notification_id LIMIT 1"
    ).format(Identifier(EVENTS_TABLE))
    row = conn.execute(query, (position,)).fetchone()
    if row is None:
        return 0.0
    event = decode(StoredEvent(row[0], row[1], row[2], bytes(row[3])))
    return max(0.0, float((now - event.timestamp).total_seconds()))
