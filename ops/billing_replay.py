"""The billing replay: the ledger read as a stream, in pages by notification
id up to the head it saw when it began (so two replays of a period read the
same events), each event decoded by the application's mapper and fed to the
metering (domain/metering.py) or, for credits, collected."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Mapper
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic

from domain.billing import Account
from domain.metering import Metering
from domain.meters import RULES
from domain.pricing import Credit

PAGE_SIZE = 2000
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
    one page in memory at a time."""
    head = recorder.max_notification_id() or 0
    position = 0
    while position < head:
        page = recorder.select_notifications(
            start=position, limit=page_size, stop=head, topics=topics, inclusive_of_start=False
        )
        if not page:
            return
        for notification in page:
            yield mapper.to_domain_event(notification)
        position = page[-1].id


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
    for event in events(recorder, mapper, topics, page_size):
        result.events += 1
        if isinstance(event, Account.Credited):
            if start <= event.timestamp < stop:
                result.credits.append(_credit(event))
        else:
            result.metering.apply_event(event)
    return result


def _credit(e: Account.Credited) -> Credit:
    return Credit(
        e.project_id,
        e.amount,
        e.currency,
        e.reason,
        e.timestamp,
        f"{e.originator_id}/{e.originator_version:08d}",
    )
