"""The billing replay: the ledger read as a stream, in pages by notification
id up to the head it saw when it began (so two replays of a period read the
same events), each event decoded by the application's mapper and fed to the
metering (domain/metering.py) or, for credits, collected."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Mapper, Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic

from domain.billing import Account
from domain.metering import Metering
from domain.meters import RULES
from domain.pricing import Credit

PAGE_SIZE = 10_000
CREDIT_TOPIC = get_topic(Account.Credited)


@dataclass
class Replay:
    metering: Metering
    credits: list[Credit] = field(default_factory=list)
    events: int = 0  # how many events were read


def events(
    recorder: PostgresApplicationRecorder,
    mapper: Mapper[Any],
    topics: list[str],
    page_size: int = PAGE_SIZE,
) -> Iterator[Any]:
    """Every event of these topics recorded so far, in notification order,
    two pages in memory at a time: the next page is read (the database's
    work, off the GIL) while this one is decoded."""
    head = recorder.max_notification_id() or 0

    def read(after: int) -> Sequence[Notification]:
        if after >= head:
            return ()
        found: Sequence[Notification] = recorder.select_notifications(
            start=after, limit=page_size, stop=head, topics=topics, inclusive_of_start=False
        )
        return found

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="billing-read") as reader:
        page = read(0)
        while page:
            following = reader.submit(read, page[-1].id)
            for notification in page:
                yield mapper.to_domain_event(notification)
            page = following.result()


def replay(
    recorder: PostgresApplicationRecorder,
    mapper: Mapper[Any],
    start: datetime,
    stop: datetime,
    page_size: int = PAGE_SIZE,
) -> Replay:
    """The period's metered stretches and the credits recorded in it."""
    result = Replay(Metering(start, stop))
    topics = sorted({*RULES, CREDIT_TOPIC})
    with without_cyclic_gc():
        for event in events(recorder, mapper, topics, page_size):
            result.events += 1
            if isinstance(event, Account.Credited):
                if start <= event.timestamp < stop:
                    result.credits.append(_credit(event))
            else:
                result.metering.apply_event(event)
    return result


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """A replay makes millions of small objects and keeps many of them, none
    cyclic garbage: the cyclic collector would rescan them again and again
    (a third of the time over a million events), so it is off meanwhile."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _credit(e: Account.Credited) -> Credit:
    return Credit(
        e.project_id,
        e.amount,
        e.currency,
        e.reason,
        e.timestamp,
        f"{e.originator_id}/{e.originator_version:08d}",
    )
