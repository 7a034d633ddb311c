"""Optimistic-concurrency retry for command handlers."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from eventsourcing.persistence import IntegrityError

from domain.errors import Conflict

T = TypeVar("T")
P = ParamSpec("P")


def retry_on_conflict(attempt: Callable[[], T], attempts: int = 20) -> T:
    """Run a load-decide-save attempt again on a concurrent write to the same
    aggregate. Each retry reloads, so a quota that filled up meanwhile is seen
    and rejected with its real reason, rather than a generic conflict."""
    for n in range(attempts):
        try:
            return attempt()
        except IntegrityError:
            # Jittered and growing (to 50 ms), so that concurrent losers do not
            # collide again in lockstep and a busy aggregate gets quiet turns.
            time.sleep(random.uniform(0, min(0.05, 0.001 * 2**n)))  # noqa: S311
    raise Conflict("The resource was changed concurrently; please retry")


def retrying(handler: Callable[P, T]) -> Callable[P, T]:
    """Decorate a load-decide-save handler with retry_on_conflict."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return retry_on_conflict(lambda: handler(*args, **kwargs))

    return wrapper
