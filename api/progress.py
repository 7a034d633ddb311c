"""Read-your-writes: wait until the read models a write touched have caught up.

The projector NOTIFYs ``name:position`` after each committed batch; one
LISTEN connection per API process keeps the latest positions in memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

import psycopg
from psycopg.sql import SQL, Identifier

from api.errors import ProjectionBehind
from projections.view import APPLICATION_NAME, PROGRESS_CHANNEL

log = logging.getLogger(__name__)


class ProjectionProgress:
    """Positions of every read model, kept current by LISTEN/NOTIFY."""

    def __init__(
        self,
        conninfo: str,
        view_names: list[str],
        on_move: Mapping[str, Callable[[], Awaitable[None]]] | None = None,
    ) -> None:
        self.conninfo, self.view_names = conninfo, view_names
        # Run when a view moves, before anyone waiting on it is told: what the
        # hook keeps (say, the revocation list) is then as current as the view.
        self.on_move = dict(on_move or {})
        self.positions: dict[str, int] = dict.fromkeys(view_names, 0)
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()  # set once LISTEN is on and positions are read

    async def start(self, wait_ready: float = 0.0) -> None:
        """Start listening; optionally wait (bounded) until it is ready."""
        self._task = asyncio.create_task(self._listen())
        if wait_ready:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ready.wait(), wait_ready)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as conn:
                    await conn.execute(SQL("LISTEN {}").format(Identifier(PROGRESS_CHANNEL)))
                    # Read positions only after LISTEN, so no progress slips between.
                    for name in self.view_names:
                        cur = await conn.execute(
                            SQL(
                                "SELECT max(notification_id) FROM {} WHERE application_name=%s"
                            ).format(Identifier(f"{name}_tracking")),
                            (APPLICATION_NAME,),
                        )
                        row = await cur.fetchone()
                        await self._advance(name, (row[0] if row else None) or 0)
                    for refresh in self.on_move.values():  # what moved while not listening
                        await refresh()
                    self.ready.set()
                    async for note in conn.notifies():  # "view:position,view:position"
                        for move in note.payload.split(","):
                            name, _, position = move.rpartition(":")
                            await self._advance(name, int(position))
            except psycopg.Error as exc:
                log.warning("progress listener lost its connection: %s", exc)
                await asyncio.sleep(1.0)

    async def _advance(self, name: str, position: int) -> None:
        if position > self.positions.get(name, 0):
            if name in self.on_move:
                await self.on_move[name]()
            async with self._changed:
                self.positions[name] = position
                self._changed.notify_all()

    def caught_up(self, targets: dict[str, int]) -> bool:
        return all(self.positions.get(n, 0) >= p for n, p in targets.items())

    async def wait(self, targets: dict[str, int], timeout: float) -> None:
        """Return once every named read model reached its position, or raise
        ProjectionBehind (the write itself is safely recorded either way)."""
        if self.caught_up(targets):
            return
        try:
            async with self._changed:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.caught_up(targets)), timeout
                )
        except TimeoutError:
            behind = sorted(n for n, p in targets.items() if self.positions.get(n, 0) < p)
            raise ProjectionBehind(
                f"The request was accepted, but the {', '.join(behind)} read model is "
                f"behind; it will show the change once it catches up."
            ) from None
