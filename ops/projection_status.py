"""`cloudledger projections status`: each read model's position, the log's
head, the lag in events and in seconds, and the rate it moves at.

The lag comes from projections/lag.py, as `cloudledger status` and GET
/metrics have it: in seconds, the age of the oldest event a view has yet to
apply (0 when it is caught up). The rate is how far the position moved over
a short window (or between two ``--watch`` samples)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from commands.app import CloudApp
from projections.lag import Lag, read_lags


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    lags: list[Lag]

    @property
    def head(self) -> int:
        return self.lags[0].position + self.lags[0].events if self.lags else 0


def take_sample(app: CloudApp, database_url: str) -> Sample:
    with psycopg.connect(database_url) as conn:
        return Sample(time.monotonic(), read_lags(conn, app.mapper.to_domain_event))


def render(before: Sample, after: Sample) -> str:
    seconds = max(after.at - before.at, 1e-9)
    earlier = {lag.name: lag.position for lag in before.lags}
    lines = [
        f"log head: {after.head}",
        f"{'projection':<18} {'position':>10} {'lag events':>10} {'lag s':>12} {'events/s':>10}",
    ]
    for lag in after.lags:
        rate = (lag.position - earlier.get(lag.name, lag.position)) / seconds
        lines.append(
            f"{lag.name:<18} {lag.position:>10} {lag.events:>10} {lag.seconds or 0.0:>12.1f}"
            f" {rate:>10.0f}"
        )
    return "\n".join(lines)


def main_status(app: CloudApp, database_url: str, window: float, watch: float) -> int:
    """Print the table once (the rate over ``window`` seconds), or every
    ``watch`` seconds until interrupted (the rate since the last one)."""
    try:
        before = take_sample(app, database_url)
        time.sleep(watch or window)
        while True:
            after = take_sample(app, database_url)
            print(render(before, after), flush=True)
            if not watch:
                return 0
            before = after
            time.sleep(watch)
            print()
    except KeyboardInterrupt:  # how --watch ends
        return 0
