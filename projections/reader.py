"""The read side for asyncio callers (the API): read-model queries on an
asyncio connection pool, so a read holds neither the event loop nor a thread.

Each read model defines its queries once, as ``Query`` values beside its
tables; its view runs them synchronously (workers, tests) and this reader
runs them for the API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from commands.ledger_store import has_unread_input


class Query(NamedTuple):
    """One SELECT on a read model and its parameters."""

    sql: str
    params: Sequence[Any] = ()


class AsyncReader:
    """A small pool of autocommit connections that only read projections."""

    def __init__(self, conninfo: str, *, options: str = "", max_size: int = 4) -> None:
        self.pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
            conninfo,
            connection_class=AsyncConnection[DictRow],
            kwargs={"autocommit": True, "row_factory": dict_row, "options": options},
            min_size=1,
            max_size=max_size,
            timeout=10.0,  # then PoolTimeout, an OperationalError: the API answers 503
            check=_check_if_readable,
            open=False,
        )

    async def open(self) -> None:
        # Not waiting: the API starts (and answers 503) while the database is down.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def all(self, query: Query) -> list[DictRow]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query.sql, query.params)
            return await cur.fetchall()

    async def one(self, query: Query) -> DictRow | None:
        rows = await self.all(query)
        return rows[0] if rows else None


async def _check_if_readable(conn: AsyncConnection[Any]) -> None:
    """Ping a pooled connection only if the server has sent it something (as
    commands/ledger_store.py does for the synchronous pools)."""
    if has_unread_input(conn.fileno()):
        await AsyncConnectionPool.check_connection(conn)
