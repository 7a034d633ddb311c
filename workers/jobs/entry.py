"""The one RQ job function: a batch of (kind, aggregate id) items from the relay.

It runs the items of each kind together, through the kind's handler, against
the context this worker process installed. A kind whose handler raises does
not stop the others; the batch then fails, and the relay runs it again."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from workers import runtime
from workers.jobs import compute, rebuild, resize, scheduler
from workers.runtime import ComputeContext, Context, SchedulerContext

BATCH_JOB_FUNC = "workers.jobs.entry.run_batch"  # what the relay enqueues


@dataclass(frozen=True)
class Handler:
    """A job kind's code and the context it runs against."""

    context: type
    run: Callable[[Any, Sequence[UUID]], dict[str, str]]


HANDLERS: dict[str, Handler] = {
    "schedule": Handler(SchedulerContext, scheduler.schedule_instances),
    "spawn": Handler(ComputeContext, compute.spawn_instances),
    "stop": Handler(ComputeContext, compute.stop_instances),
    "start": Handler(ComputeContext, compute.start_instances),
    "delete": Handler(ComputeContext, compute.delete_instances),
    "power": Handler(ComputeContext, compute.power_instances),
    "snapshot": Handler(ComputeContext, compute.snapshot_instances),
    "rebuild": Handler(ComputeContext, rebuild.rebuild_instances),
    "resize_schedule": Handler(SchedulerContext, resize.schedule_resizes),
    "resize_migrate": Handler(ComputeContext, resize.migrate_instances),
    "resize_finish": Handler(ComputeContext, resize.finish_resizes),
    "revert_dest": Handler(ComputeContext, resize.revert_at_dest),
    "revert_source": Handler(ComputeContext, resize.revert_at_source),
    "drop_stash": Handler(ComputeContext, resize.drop_stashes),
}


def run_batch(queue: str, items: list[list[str]]) -> dict[str, str]:
    """RQ's entry point; ``queue`` only names where the batch came from."""
    del queue
    return execute(runtime.current(), items)


def execute(context: Context, items: Sequence[Sequence[str]]) -> dict[str, str]:
    """Run each kind's items (in the order the kinds first appear); outcome by id."""
    by_kind: dict[str, list[UUID]] = {}
    for kind, aggregate_id in items:
        by_kind.setdefault(kind, []).append(UUID(aggregate_id))
    outcomes: dict[str, str] = {}
    failures: list[Exception] = []
    for kind, ids in by_kind.items():
        handler = HANDLERS[kind]
        if not isinstance(context, handler.context):
            raise TypeError(f"a {kind} job reached a {type(context).__name__} worker")
        try:
            outcomes.update(handler.run(context, ids))
        except Exception as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    return outcomes
