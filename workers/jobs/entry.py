"""The one RQ job function of the relay's batches: (kind, aggregate id) items.

It runs the items of each kind together, through the job its route names
(workers/routes.py), with the context of the worker that runs it. Each job
function says which context it needs by its first parameter's annotation;
one given another is refused. A kind whose job raises does not stop the
others; the batch then fails, and the relay runs it again."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, get_type_hints
from uuid import UUID

from workers.routes import ROUTING, Routing

BATCH_JOB_FUNC = "workers.jobs.entry.run_batch"  # what the relay enqueues


@dataclass(frozen=True)
class Handler:
    """A job kind's code and the context it runs with."""

    context: type
    run: Callable[[Any, Sequence[UUID]], dict[str, str]]


def resolve(reference: str) -> Callable[..., Any]:
    """The function a ``module:function`` reference names."""
    module, _, name = reference.partition(":")
    found: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return found


def context_type(function: Callable[..., Any]) -> type:
    """The type a job function's (or role builder's) first parameter (or
    return value, for a builder) is annotated with."""
    hints = get_type_hints(function)
    first = next(iter(inspect.signature(function).parameters))
    found = hints.get(first)
    if not isinstance(found, type):
        raise TypeError(f"{function.__qualname__}: annotate its first parameter with a context")
    return found


@functools.cache
def _handler(job: str) -> Handler:
    run = resolve(job)
    return Handler(context_type(run), run)


def handler(kind: str, routing: Routing = ROUTING) -> Handler:
    """The job of a kind, by its name now or the one it was stored under."""
    return _handler(routing.route_of(kind).job)


def run_batch(context: object, queue: str, items: list[list[str]]) -> dict[str, str]:
    """RQ's entry point; ``queue`` only names where the batch came from."""
    del queue
    return execute(context, items)


def execute(context: object, items: Sequence[Sequence[str]]) -> dict[str, str]:
    """Run each kind's items (in the order the kinds first appear); outcome by id."""
    by_kind: dict[str, list[UUID]] = {}
    for kind, aggregate_id in items:
        by_kind.setdefault(kind, []).append(UUID(aggregate_id))
    outcomes: dict[str, str] = {}
    failures: list[Exception] = []
    for kind, ids in by_kind.items():
        found = handler(kind)
        if not isinstance(context, found.context):
            raise TypeError(f"a {kind} job reached a {type(context).__name__} worker")
        try:
            outcomes.update(found.run(context, ids))
        except Exception as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    return outcomes
