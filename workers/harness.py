"""The shape of every job on a batch of items, whatever the role and the
resource: load the batch's aggregates in one query, skip items whose state
has moved on (the work was done, or superseded), drive the driver for each
of the others, and record the outcomes in one save. A transient driver
error is a retry of that item (the batch fails after the others have run,
and the relay runs it again); a permanent one, or the last transient one,
is a fault recorded on the aggregate the item is about."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import InterfaceError, OperationalError
from rq import get_current_job

from commands.app import CloudApp
from commands.loading import load_many
from domain.errors import InvalidTransition, NotFound
from workers import retries
from workers.drivers.errors import DriverError, ShownToOwnerError, TransientDriverError
from workers.runtime import LedgerContext

log = logging.getLogger(__name__)

MAX_TRANSIENT_RETRIES = 3
Outcomes = dict[str, str]
C = TypeVar("C", bound=LedgerContext)
A = TypeVar("A", bound=Aggregate)
# Records a permanent failure of an item on its aggregate: (ledger, id, the
# message its owner reads, the details only admins read).
Fault = Callable[[CloudApp, UUID, str, str], object]
# Records the outcomes of the items driven: the ids recorded (the others were superseded).
Record = Callable[[C, Sequence[A]], Collection[UUID]]


class RetryLater(Exception):
    """Some items of the batch must run again; the others are done."""


def last_attempt() -> bool:
    job = get_current_job()
    return job is None or retries.retries_so_far(job) >= MAX_TRANSIENT_RETRIES


def run_or_fail(
    fault: Callable[[str, str], object],
    what: str,
    work: Callable[[], None],
    cleanup: Callable[[], None] | None = None,
) -> bool:
    """Do driver work; a permanent failure (or the last transient one) is
    recorded by ``fault`` (its owner's message, and details for admins), an
    earlier transient one is raised for a retry. ``cleanup`` runs first on
    failure (a failed build frees its host room)."""
    try:
        work()
    except TransientDriverError as exc:
        if not last_attempt():
            raise
        _fail(fault, f"{what} failed after retries", cleanup, str(exc))
        return False
    except ShownToOwnerError as exc:
        _fail(fault, f"{what} failed: {exc}", cleanup, exc.details)
        return False
    except DriverError as exc:
        # The host's error names its paths and commands: admins only.
        _fail(fault, f"{what} failed", cleanup, str(exc))
        return False
    except (OperationalError, InterfaceError):
        raise  # the ledger is unreachable: not the item's fault
    except Exception as exc:
        # A bug or an unexpected outage: record it for the user, and re-raise
        # so RQ keeps the traceback in its failed-job registry.
        _fail(fault, f"{what} failed unexpectedly", cleanup, repr(exc))
        raise
    return True


def _fail(
    fault: Callable[[str, str], object],
    message: str,
    cleanup: Callable[[], None] | None,
    details: str = "",
) -> None:
    """The owner is told ``message``; ``details`` go to the fault's details
    (admins), as Nova keeps them."""
    if cleanup is not None:
        try:
            cleanup()
        except Exception:
            log.exception("cleanup after a failed step failed (%s)", message)
    fault(message, details)


def load_waiting(
    app: CloudApp, aggregate: type[A], ids: Sequence[UUID], waiting: Callable[[A], bool]
) -> tuple[list[A], Outcomes]:
    """The batch's aggregates still waiting for this job (one query for all),
    in the batch's order, and "skipped" for the others."""
    found = load_many(app, aggregate, ids)
    items, skipped = [], {}
    for aggregate_id in ids:
        item = found.get(aggregate_id)
        if item is not None and waiting(item):
            items.append(item)
        else:
            skipped[str(aggregate_id)] = "skipped"
    return items, skipped


@dataclass(frozen=True)
class Step(Generic[C, A]):
    """What a job does to each item: which items still wait for it, the
    driver work (idempotent), how the batch's outcomes are recorded (the ids
    recorded; an item left out was superseded meanwhile), and what a
    permanent failure is (``fault``; None: it is retried until it succeeds).
    ``undo`` runs on a fault, and on an item superseded while it was driven
    when ``undo_superseded`` says so (work on another host than the one a
    delete would clean)."""

    aggregate: type[A]
    waiting: Callable[[A, C], bool]
    drive: Callable[[C, A], None]
    record: Record[C, A]
    done: str
    what: str = ""
    fault: Fault | None = None
    undo: Callable[[C, A], None] | None = None
    undo_superseded: bool = False
    superseded: str = "skipped"  # the outcome of an item superseded meanwhile
    after: Callable[[C, A], None] | None = None  # once its outcome is recorded
    # Once per batch, with the items still waiting, before any is driven
    # (what they all need, read in one query).
    prepare: Callable[[C, Sequence[A]], None] | None = None


def run_step(step: Step[C, A], context: C, ids: Sequence[UUID]) -> Outcomes:
    """Run ``step`` on a batch: one load, the driver per item, one record."""
    items, outcomes = load_waiting(
        context.app, step.aggregate, ids, lambda a: step.waiting(a, context)
    )
    if step.prepare is not None and items:
        step.prepare(context, items)
    finished: list[A] = []
    retry: list[BaseException] = []
    for item in items:
        try:
            if _drive(step, context, item):
                finished.append(item)
            else:
                outcomes[str(item.id)] = "error"
        except Exception as exc:
            retry.append(exc)
            outcomes[str(item.id)] = "retry"
    recorded = set(step.record(context, finished)) if finished else set()
    for item in finished:
        if item.id in recorded:
            outcomes[str(item.id)] = step.done
            if step.after is not None:
                step.after(context, item)
        else:
            outcomes[str(item.id)] = step.superseded
            if step.undo is not None and step.undo_superseded:
                step.undo(context, item)
    if retry:
        raise RetryLater(f"{len(retry)} of {len(ids)} to retry: {retry[0]!r}") from retry[0]
    return outcomes


def _drive(step: Step[C, A], context: C, item: A) -> bool:
    def work() -> None:
        step.drive(context, item)

    if step.fault is None:  # retried until it succeeds, never a fault
        work()
        return True
    fault = step.fault

    def record_fault(message: str, details: str) -> object:
        shown = f"{message} ({details})" if details else message
        log.warning("%s %s: %s", step.aggregate.__name__, item.id, shown)
        return fault(context.app, item.id, message, details)

    cleanup = None if step.undo is None else _bound(step.undo, context, item)
    return run_or_fail(record_fault, step.what, work, cleanup)


def _bound(undo: Callable[[C, A], None], context: C, item: A) -> Callable[[], None]:
    return lambda: undo(context, item)


def in_one_save(finish: Callable[[CloudApp, Sequence[A]], Collection[UUID]]) -> Record[Any, A]:
    """Record the batch with ``finish`` (ledger, items): one save for all."""

    def record_all(context: LedgerContext, items: Sequence[A]) -> Collection[UUID]:
        return finish(context.app, items)

    return record_all


def one_by_one(finish: Callable[[CloudApp, UUID], Any]) -> Record[Any, Any]:
    """Record each item on its own (rare steps); one whose state moved on
    meanwhile (a delete superseded it) is left out."""

    def record_each(context: LedgerContext, items: Sequence[Any]) -> list[UUID]:
        recorded = []
        for item in items:
            try:
                finish(context.app, item.id)
                recorded.append(item.id)
            except (InvalidTransition, NotFound):
                pass
        return recorded

    return record_each


def all_of(context: LedgerContext, items: Sequence[Any]) -> list[UUID]:
    """Nothing to record: the driver's work shows in another aggregate's events."""
    return [item.id for item in items]
