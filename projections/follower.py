"""Follow the event log: wake on LISTEN/NOTIFY, read in batches, hand them on.

Used by the projector (batches -> read-model tables) and by the relay
(batches -> RQ jobs). Positions live in PostgreSQL, so a restarted follower
continues exactly where it committed last."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import Mapper
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

log = logging.getLogger(__name__)

# The follower wakes on NOTIFY; this timeout only bounds how long a lost
# notification (e.g. across a database restart) could delay it.
SAFETY_WAKE_SECONDS = 5.0
RETRY_SECONDS = 1.0


class LogListener:
    """One LISTEN connection per process, fanning wake-ups out to followers."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self.conninfo, self.channel = conninfo, channel
        self._wakers: list[threading.Event] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-listener", daemon=True)

    def waker(self) -> threading.Event:
        event = threading.Event()
        self._wakers.append(event)
        return event

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop listening, and wake every follower so it sees its stop flag."""
        self._stop.set()
        self._wake_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(SQL("LISTEN {}").format(Identifier(self.channel)))
                    self._wake_all()  # catch up on anything missed while reconnecting
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wake_all()
            except psycopg.Error as exc:
                log.warning("event-log listener lost its connection: %s", exc)
                self._stop.wait(1.0)

    def _wake_all(self) -> None:
        for event in self._wakers:
            event.set()


BatchHandler = Callable[[Sequence[tuple[Any, int]]], int]


class LogFollower:
    """Feeds batches of (domain event, notification id) to a handler that
    records its own new position, from the position it last recorded."""

    def __init__(
        self,
        name: str,
        recorder: PostgresApplicationRecorder,
        mapper: Mapper[Any],
        handle_batch: BatchHandler,
        start_after: int,
        waker: threading.Event,
        topics: Sequence[str] = (),
        batch_size: int = 500,
        read_position: Callable[[], int] | None = None,
    ) -> None:
        self.name, self.recorder, self.mapper = name, recorder, mapper
        self.handle_batch, self.position = handle_batch, start_after
        self.waker, self.topics, self.batch_size = waker, list(topics), batch_size
        self.read_position = read_position

    def run(self, stop: threading.Event) -> None:
        """Follow until ``stop`` is set (the listener's stop() wakes us). A
        failed batch is logged and retried from the recorded position, so a
        database blip never silently freezes a read model."""
        while not stop.is_set():
            # Clear before reading, so a NOTIFY arriving mid-read is not lost.
            self.waker.clear()
            try:
                processed = self.step()
            except Exception:
                log.exception("%s: batch failed; retrying from its recorded position", self.name)
                stop.wait(RETRY_SECONDS)
                self._reload_position()
                continue
            if not processed:
                self.waker.wait(SAFETY_WAKE_SECONDS)

    def _reload_position(self) -> None:
        # What was committed is the truth: a batch may have committed and then
        # failed afterwards (e.g. the relay's enqueue), or not committed at all.
        if self.read_position is not None:
            try:
                self.position = self.read_position()
            except Exception:
                log.exception("%s: cannot read its position yet", self.name)

    def step(self) -> int:
        """Process one batch; returns how many events it processed."""
        notifications = self.recorder.select_notifications(
            start=self.position,
            limit=self.batch_size,
            topics=self.topics,
            inclusive_of_start=False,
        )
        if not notifications:
            return 0
        events = [(self.mapper.to_domain_event(n), n.id) for n in notifications]
        self.position = self.handle_batch(events)
        return len(events)

    def catch_up(self) -> None:
        """Process everything recorded so far (for tests and rebuilds)."""
        while self.step():
            pass


class LogRunner:
    """A process's follower: one LISTEN connection and one reader thread,
    feeding ``handle_batch`` from the position ``read_position`` reports."""

    def __init__(
        self,
        name: str,
        recorder: PostgresApplicationRecorder,
        mapper: Mapper[Any],
        conninfo: str,
        handle_batch: BatchHandler,
        read_position: Callable[[], int],
        topics: Sequence[str],
    ) -> None:
        self.listener = LogListener(conninfo, recorder.channel_name)
        self.follower = LogFollower(
            name=name,
            recorder=recorder,
            mapper=mapper,
            handle_batch=handle_batch,
            start_after=read_position(),
            read_position=read_position,
            waker=self.listener.waker(),
            topics=topics,
        )

    def run(self, stop: threading.Event) -> None:
        self.listener.start()
        thread = threading.Thread(target=self.follower.run, args=(stop,), name=self.follower.name)
        thread.start()
        stop.wait()
        self.listener.stop()  # wakes the follower so it sees the stop flag
        thread.join()

    def catch_up(self) -> None:
        self.follower.catch_up()
