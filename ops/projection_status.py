"""`cloudledger projections status`: each read model's position, the log's
head, the lag in events and in seconds, and the rate it moves at.

The lag in seconds is the time between the event at the view's position and
the head event, from the events' own timestamps; the rate is how far the
position moved over a short window (or between two ``--watch`` samples)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import psycopg

from commands.app import CloudApp
from ops.status import follower_positions, ledger_head
from projections.bootstrap import postgres_recorder


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    head: int
    positions: dict[str, int]


def take_sample(database_url: str) -> Sample:
    with psycopg.connect(database_url) as conn:
        head = ledger_head(conn)
        return Sample(time.monotonic(), head, follower_positions(conn))


def event_times(app: CloudApp) -> Callable[[int], datetime | None]:
    """The timestamp of the event at a position (the first one at or after
    it, as notification ids may have gaps), decoded by the app's mapper."""
    recorder = postgres_recorder(app)

    @lru_cache(maxsize=64)
    def at(position: int) -> datetime | None:
        found = recorder.select_notifications(start=max(position, 1), limit=1)
        if not found:
            return None
        event: Any = app.mapper.to_domain_event(found[0])
        stamp: datetime = event.timestamp
        return stamp

    return at


def render(before: Sample, after: Sample, time_at: Callable[[int], datetime | None]) -> str:
    seconds = max(after.at - before.at, 1e-9)
    head_time = time_at(after.head)
    lines = [
        f"log head: {after.head}",
        f"{'projection':<18}{'position':>10}{'lag events':>12}{'lag s':>10}{'events/s':>12}",
    ]
    for name, position in after.positions.items():
        lag = after.head - position
        lag_seconds = 0.0
        position_time = time_at(position)
        if lag > 0 and head_time is not None and position_time is not None:
            lag_seconds = (head_time - position_time).total_seconds()
        rate = (position - before.positions.get(name, position)) / seconds
        lines.append(f"{name:<18}{position:>10}{lag:>12}{lag_seconds:>10.1f}{rate:>12.0f}")
    return "\n".join(lines)


def main_status(app: CloudApp, database_url: str, window: float, watch: float) -> int:
    """Print the table once (the rate over ``window`` seconds), or every
    ``watch`` seconds until interrupted (the rate since the last one)."""
    time_at = event_times(app)
    try:
        before = take_sample(database_url)
        time.sleep(watch or window)
        while True:
            after = take_sample(database_url)
            print(render(before, after, time_at), flush=True)
            if not watch:
                return 0
            before = after
            time.sleep(watch)
            print()
    except KeyboardInterrupt:  # how --watch ends
        return 0
