"""Admission control: refuse new boots while too much accepted work is unfinished.

Without it the API accepts boots faster than the pipeline finishes them, and
the backlog (and every client's wait) grows without bound. A boot is refused
with 429 and Retry-After, appending nothing, while the instance operations
in flight (in the servers read model: a task is running) reach the bound in
all or for the caller's project. Reads and deletes are never refused."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from domain.errors import DomainError
from projections.reader import AsyncReader
from projections.servers import operations_in_flight

# The count is read at most this often: a refused flood costs no queries.
FRESH_FOR_SECONDS = 0.1


class Overloaded(DomainError):
    """Too much accepted work is unfinished; try again shortly."""


@dataclass
class Admission:
    """The bounds, and a briefly cached count of what is in flight. Used from
    the event loop only, so it needs no lock."""

    reads: AsyncReader
    max_in_flight: int
    max_project_in_flight: int
    # Told "cloud" or "project" at each refusal (GET /metrics counts them).
    on_refused: Callable[[str], None] = field(default=lambda scope: None)
    _counts: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    # Boots this process admitted that the read model may not count yet.
    _admitted: dict[str, int] = field(default_factory=dict)

    @contextlib.contextmanager
    def boot(self, project_id: str, in_flight: tuple[int, int]) -> Iterator[None]:
        """Admit a boot, given ``in_flight(project_id)`` (or raise Overloaded),
        and count it until it is answered."""
        self.check_boot(project_id, in_flight)
        self._admitted[project_id] = self._admitted.get(project_id, 0) + 1
        try:
            yield
        finally:
            self._admitted[project_id] -= 1
            if not self._admitted[project_id]:
                del self._admitted[project_id]

    def check_boot(self, project_id: str, in_flight: tuple[int, int]) -> None:
        total = in_flight[0] + sum(self._admitted.values())
        project = in_flight[1] + self._admitted.get(project_id, 0)
        if total >= self.max_in_flight:
            self.on_refused("cloud")
            raise Overloaded(
                f"The cloud has {total} server operations in progress (at most "
                f"{self.max_in_flight}); retry the boot shortly."
            )
        if project >= self.max_project_in_flight:
            self.on_refused("project")
            raise Overloaded(
                f"This project has {project} server operations in progress (at most "
                f"{self.max_project_in_flight}); retry the boot shortly."
            )

    async def in_flight(self, project_id: str) -> tuple[int, int]:
        now = time.monotonic()
        cached = self._counts.get(project_id)
        if cached is not None and now - cached[0] < FRESH_FOR_SECONDS:
            return cached[1], cached[2]
        row = await self.reads.one(operations_in_flight(project_id))
        assert row is not None  # an aggregate query always has a row
        total, project = int(row["total"]), int(row["project"])
        if len(self._counts) > 10_000:  # many projects: start afresh
            self._counts.clear()
        self._counts[project_id] = (now, total, project)
        return total, project
