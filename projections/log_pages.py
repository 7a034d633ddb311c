"""The event log read in large pages of a view's topics, decoded by the
application's mapper, with the next page read while this one is applied."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eventsourcing.persistence import Mapper
from eventsourcing.postgres import PostgresApplicationRecorder

Page = list[tuple[Any, int]]  # (domain event, notification id)

PAGE_SIZE = 5000


class LogPages:
    """Pages of (domain event, notification id) of some topics."""

    def __init__(
        self,
        recorder: PostgresApplicationRecorder,
        mapper: Mapper[Any],
        topics: Sequence[str],
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.recorder, self.mapper = recorder, mapper
        self.topics, self.page_size = list(topics), page_size

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def read(self, after: int, stop: int) -> Page:
        """The first page of events after ``after``, up to ``stop`` included."""
        if after >= stop:
            return []
        found = self.recorder.select_notifications(
            start=after,
            limit=self.page_size,
            stop=stop,
            topics=self.topics,
            inclusive_of_start=False,
        )
        return [(self.mapper.to_domain_event(n), n.id) for n in found]

    def pages(self, after: int, stop: int) -> Iterator[Page]:
        """Every page after ``after`` up to ``stop``; one page is read ahead
        in a thread (the database's work and the socket wait free the GIL)."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-pages") as ahead:
            page = self.read(after, stop)
            while page:
                following = ahead.submit(self.read, page[-1][1], stop)
                yield page
                page = following.result()
