"""Rebuild a read model from position 0 in its shadow while the API reads
the live tables and the projector keeps them current, then swap them.

Why a schema per shadow: the views' SQL works unchanged (projections/shadow.py),
and ``ALTER TABLE ... SET SCHEMA`` moves a table with its indexes,
constraints and owned sequences, so nothing needs renaming in the swap.

The swap keeps the live tracking row where it is: the shadow is brought to
exactly the live position under a lock that holds the projector back, so the
swapped-in tables hold what the projector believes they hold, and the
projector's next batch (events after that position) lands on them."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.persistence import Mapper
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from projections.log_pages import PAGE_SIZE, LogPages, Page
from projections.shadow import LIVE_SCHEMA, Shadow
from projections.view import APPLICATION_NAME, ProjectionView

# Pages per transaction of the bulk load: a killed rebuild redoes at most this.
PAGES_PER_COMMIT = 10
# Lock for the swap once the shadow is this near the live position: the
# rest is applied under the lock, which holds back the projector (not reads).
CLOSE_ENOUGH = PAGE_SIZE
# Readers and the projector wait on the swap's locks; they give up after their
# own lock_timeout (3 s), so the swap gives up sooner and tries again.
SWAP_LOCK_TIMEOUT_MS = 1000
SWAP_ATTEMPTS = 20

# (log position reached, log position aimed at, events in the page just applied)
Progress = Callable[[int, int, int], None]


class RebuildError(RuntimeError):
    """A rebuild that cannot go on (another one runs, the live view went back)."""


@dataclass(frozen=True)
class Outcome:
    name: str
    resumed_from: int  # the shadow's position when this run began
    position: int  # the log position the tables were swapped (or compared) at
    events: int  # events of the view's topics applied by this run
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def live_position(conn: psycopg.Connection[DictRow], view: ProjectionView) -> int:
    row = conn.execute(
        SQL("SELECT notification_id FROM {} WHERE application_name = %s").format(
            Identifier(LIVE_SCHEMA, view.tracking_table_name)
        ),
        (APPLICATION_NAME,),
    ).fetchone()
    return int(row["notification_id"]) if row else 0


class ShadowBuild:
    """Bring one view's shadow up to the live position (resuming where it
    stopped), for a swap (``swap``) or a comparison (projections/compare.py)."""

    def __init__(
        self,
        view: ProjectionView,
        database_url: str,
        recorder: PostgresApplicationRecorder,
        mapper: Mapper[Any],
        schema: str,
        progress: Progress | None = None,
    ) -> None:
        self.view = view
        self.shadow = Shadow(view, database_url, schema)
        self.log = LogPages(recorder, mapper, view.topics)
        self.progress = progress
        self.pages_per_commit = PAGES_PER_COMMIT
        self.events = 0

    def claim(self, conn: psycopg.Connection[DictRow]) -> None:
        """One run per shadow: a session lock, released even by a SIGKILL."""
        row = conn.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s)) AS mine", (self.shadow.schema,)
        ).fetchone()
        conn.commit()
        if not row or not row["mine"]:
            raise RebuildError(f"another run is building {self.shadow.schema}")

    def follow_live(self, conn: psycopg.Connection[DictRow], position: int) -> int:
        """From ``position``, apply the log up to the live position until
        within CLOSE_ENOUGH of it, never past it (the shadow cannot go back);
        returns the shadow's position."""
        while True:
            target = live_position(conn, self.view)
            conn.commit()
            if position > target:
                raise RebuildError(
                    f"{self.shadow.schema} is at {position}, past the live {target}:"
                    " drop it and rebuild again"
                )
            if target - position <= CLOSE_ENOUGH:
                return position
            position = self.load(conn, position, target)

    def load(self, conn: psycopg.Connection[DictRow], after: int, target: int) -> int:
        """Apply the events after ``after`` up to ``target``, committing every
        ``pages_per_commit`` pages with the tracking row; returns ``target``."""
        pages = self._reported(self.log.pages(after, target), target)
        while True:
            with conn.transaction():
                last = self.shadow.apply(conn, itertools.islice(pages, self.pages_per_commit))
                self.shadow.record(conn, target if last is None else last)
            if last is None:
                return target

    def load_within(self, conn: psycopg.Connection[DictRow], after: int, target: int) -> None:
        """In the caller's transaction: the events up to ``target``, all of them."""
        self.shadow.apply(conn, self._reported(self.log.pages(after, target), target))
        self.shadow.record(conn, target)

    def _reported(self, pages: Iterator[Page], target: int) -> Iterator[Page]:
        for page in pages:
            yield page
            self.events += len(page)
            if self.progress is not None:
                self.progress(page[-1][1], target, len(page))


def rebuild(build: ShadowBuild) -> Outcome:
    """Build the shadow from where it stands, then swap it in."""
    began, view = time.perf_counter(), build.view
    with build.shadow.connect() as conn:
        build.claim(conn)
        resumed_from = build.shadow.create(conn)
        build.follow_live(conn, resumed_from)
        build.shadow.finish_indexes(conn)
        conn.commit()
        position = swap(build, conn)
    return Outcome(view.name, resumed_from, position, build.events, time.perf_counter() - began)


def swap(build: ShadowBuild, conn: psycopg.Connection[DictRow]) -> int:
    """Swap shadow and live in one transaction; on a lock timeout (a long
    reader or batch) catch up again and retry. Returns the swap position."""
    for _ in range(SWAP_ATTEMPTS):
        try:
            return _swap_once(build, conn)
        except psycopg.errors.LockNotAvailable:
            build.follow_live(conn, build.shadow.position(conn))
    raise RebuildError(f"could not lock {build.view.name}'s tables for the swap")


def _swap_once(build: ShadowBuild, conn: psycopg.Connection[DictRow]) -> int:
    shadow, tables = build.shadow, build.shadow.tables
    retired = f"retired_{build.view.name}"
    conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(retired)))
    conn.commit()
    with conn.transaction():
        conn.execute(b"SET LOCAL lock_timeout = %d" % SWAP_LOCK_TIMEOUT_MS)
        # EXCLUSIVE: readers go on, writers wait. The view's tables first,
        # then its tracking table, in the projector's own order (it writes
        # rows, then tracking), so neither can wait for the other in a cycle.
        live = SQL(", ").join(Identifier(LIVE_SCHEMA, t) for t in tables)
        conn.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(live))
        conn.execute(
            SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
                Identifier(LIVE_SCHEMA, build.view.tracking_table_name)
            )
        )
        # The projector cannot move now: bring the shadow to exactly its position.
        target = live_position(conn, build.view)
        position = shadow.position(conn)
        if position > target:
            raise RebuildError(f"{shadow.schema} is at {position}, past the live {target}")
        build.load_within(conn, position, target)
        # The moves take ACCESS EXCLUSIVE, waiting only for reads in flight;
        # a read queued behind them then finds the new table by its name.
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(retired)))
        for table in tables:
            conn.execute(
                SQL("ALTER TABLE {} SET SCHEMA {}").format(
                    Identifier(LIVE_SCHEMA, table), Identifier(retired)
                )
            )
            conn.execute(
                SQL("ALTER TABLE {} SET SCHEMA {}").format(
                    Identifier(shadow.schema, table), Identifier(LIVE_SCHEMA)
                )
            )
    conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(retired)))
    shadow.drop(conn)
    return target
