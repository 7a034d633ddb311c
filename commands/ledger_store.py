"""The ledger's PostgreSQL persistence: the eventsourcing library's, with two changes.

1. Appends go through one server-side function call. The library appends in
   psycopg pipeline mode (LOCK TABLE, NOTIFY, INSERT sent back to back). The
   server takes the EXCLUSIVE lock as soon as it reads the LOCK, before the
   INSERT's bytes arrive; and psycopg's pipeline loop stops flushing once it
   has queued its last command, so an INSERT larger than the socket buffers
   is left half-sent in libpq's buffer while the client waits for results.
   The session then sits in ClientRead holding the lock, and every writer in
   the cloud waits behind it (the 8 MB image-create wedge). Here the whole
   append is one statement whose parameters the server has read in full
   before the function takes the lock, so the lock is held only while rows
   are inserted, never while bytes are on the wire.
2. Every session gets statement, lock and idle-in-transaction time limits,
   so a stuck writer fails alone instead of holding everyone else.
3. A pool retries a lost database every half second, so service resumes
   within about a second of a database restart (psycopg_pool doubles its delay
   after each failed attempt: 1, 2, 4, 8 s..., often ~8 s for a 2 s outage).
4. A pooled connection is checked before use without a round trip: only if
   its socket has something to read (a server that ended the session says so
   before closing) is it pinged. The library's pre-ping costs a round trip on
   every checkout, about a fifth of a worker's time in the database.
5. Reads: the library composes its SELECT afresh for every aggregate it
   loads; here each shape is rendered once. ``select_many`` reads the new
   events of many aggregates in one query, for batches (commands/app.py).
6. The append also extends the ledger's hash chain (commands/chain.py): the
   appender hashes each event's bytes before the call, and the function links
   the digests to the chain's head under the same lock, in the same
   transaction, with one INSERT for the batch."""

from __future__ import annotations

import select
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    ConnectionPool,
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier
from psycopg_pool.base import AttemptWithBackoff

from commands import chain

# Every pool of this process (see 3. above).
AttemptWithBackoff.INITIAL_DELAY, AttemptWithBackoff.DELAY_BACKOFF = 0.5, 1.0

# Keys of the eventsourcing environment (see commands/bootstrap.py).
STATEMENT_TIMEOUT_MS = "LEDGER_STATEMENT_TIMEOUT_MS"
LOCK_TIMEOUT_MS = "LEDGER_LOCK_TIMEOUT_MS"


class RenderedSelects(PostgresAggregateRecorder):
    """The library's aggregate recorder with its SELECTs rendered once per
    shape, and a read of many aggregates' events in one query (see 5. above)."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self._selects: dict[tuple[bool, bool, bool, bool], bytes] = {}
        table = SQL("{}.{}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        self._select_many = (
            SQL(
                # LATERAL: one index range scan per aggregate, whatever the
                # planner guesses of the arrays' length.
                "SELECT e.originator_id, e.originator_version, e.topic, e.state"
                " FROM unnest(%s::uuid[], %s::bigint[]) AS k(id, after)"
                " CROSS JOIN LATERAL (SELECT * FROM {} WHERE originator_id = k.id"
                "  AND originator_version > k.after) AS e"
                " ORDER BY e.originator_id, e.originator_version"
            )
            .format(table)
            .as_bytes(None)
        )
        self._select_latest = (
            SQL(
                "SELECT DISTINCT ON (originator_id) originator_id, originator_version, topic,"
                " state FROM {} WHERE originator_id = ANY(%s::uuid[])"
                " ORDER BY originator_id, originator_version DESC"
            )
            .format(table)
            .as_bytes(None)
        )

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """As the library's, with the statement rendered once per shape."""
        shape = (gt is not None, lte is not None, desc, limit is not None)
        statement = self._selects.get(shape)
        if statement is None:
            composed = self.select_events_statement
            if gt is not None:
                composed += SQL(" AND originator_version > %s")
            if lte is not None:
                composed += SQL(" AND originator_version <= %s")
            composed += SQL(
                " ORDER BY originator_version DESC" if desc else " ORDER BY originator_version ASC"
            )
            if limit is not None:
                composed += SQL(" LIMIT %s")
            statement = self._selects[shape] = composed.as_bytes(None)
        params = [originator_id, *(v for v in (gt, lte, limit) if v is not None)]
        return self._stored(statement, params)

    def select_many(self, after: dict[UUID, int]) -> dict[UUID, list[StoredEvent]]:
        """Each aggregate's events after the version given for it, in order."""
        if not after:
            return {}
        found: dict[UUID, list[StoredEvent]] = {}
        for event in self._stored(self._select_many, [list(after), list(after.values())]):
            found.setdefault(UUID(str(event.originator_id)), []).append(event)
        return found

    def select_latest(self, originator_ids: Sequence[UUID]) -> dict[UUID, StoredEvent]:
        """Each aggregate's newest record (a snapshot table's latest snapshot)."""
        if not originator_ids:
            return {}
        rows = self._stored(self._select_latest, [list(originator_ids)])
        return {UUID(str(event.originator_id)): event for event in rows}

    def _stored(self, statement: bytes, params: Sequence[Any]) -> list[StoredEvent]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]


class LedgerRecorder(RenderedSelects, PostgresApplicationRecorder):
    """Appends with ``SELECT <table>_append(ids, versions, topics, states, digests)``,
    which also extends the hash chain (table ``<table>_chain``, commands/chain.py)."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        function = f"{events_table_name}_append"
        self.check_identifier_length(function)
        names = {
            "schema": Identifier(self.datastore.schema),
            "table": Identifier(self.events_table_name),
            "function": Identifier(function),
            "channel": Identifier(self.channel_name),
        }
        # The chain (commands/chain.py): one row per event, keyed like it,
        # written by the append below in the same transaction.
        self.chain_table_name = f"{events_table_name}_chain"
        self.check_identifier_length(self.chain_table_name)
        names["chain"] = Identifier(self.chain_table_name)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{chain} ("
                " notification_id bigint PRIMARY KEY, previous_id bigint NOT NULL,"
                " digest bytea NOT NULL, link bytea NOT NULL)"
            ).format(**names)
        )
        # The append without a chain (before it existed): a process left
        # running from then must fail loudly, not append unchained events.
        self.sql_create_statements.append(
            SQL(
                "DROP FUNCTION IF EXISTS {schema}.{function}(uuid[], bigint[], text[], bytea[])"
            ).format(**names)
        )
        # The lock serialises appends so notification ids commit in order and
        # followers never skip a gap that fills in later (as the library's
        # lock); it also makes the chain's head this append's predecessor.
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}("
                " ids uuid[], versions bigint[], topics text[], states bytea[],"
                " digests bytea[])"
                " RETURNS SETOF bigint LANGUAGE plpgsql AS $$"
                " DECLARE head_id bigint; head bytea; nids bigint[];"
                "  prev_ids bigint[] := '{{}}'; links bytea[] := '{{}}';"
                " BEGIN"
                "  LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE;"
                "  NOTIFY {channel};"
                "  WITH inserted AS (INSERT INTO {schema}.{table}"
                "   (originator_id, originator_version, topic, state)"
                "   SELECT e.id, e.version, e.topic, e.state"
                "   FROM unnest(ids, versions, topics, states)"
                "    WITH ORDINALITY AS e(id, version, topic, state, n)"
                "   ORDER BY e.n"
                "   RETURNING notification_id)"
                "  SELECT array_agg(notification_id ORDER BY notification_id) INTO nids"
                "   FROM inserted;"
                "  SELECT c.notification_id, c.link INTO head_id, head FROM {schema}.{chain} c"
                "   ORDER BY c.notification_id DESC LIMIT 1;"
                "  IF NOT FOUND THEN head_id := 0; head := decode(repeat('00', 32), 'hex');"
                "  END IF;"
                "  FOR i IN 1 .. cardinality(nids) LOOP"
                "   prev_ids[i] := head_id; head := sha256(head || digests[i]);"
                "   links[i] := head; head_id := nids[i];"
                "  END LOOP;"
                "  INSERT INTO {schema}.{chain} (notification_id, previous_id, digest, link)"
                "   SELECT * FROM unnest(nids, prev_ids, digests, links);"
                "  RETURN QUERY SELECT unnest(nids);"
                " END $$"
            ).format(**names)
        )
        # Rendered once: composing the query again for every append costs more
        # than the rest of preparing it.
        self._append = (
            SQL(
                "SELECT n FROM {schema}.{function}"
                "(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[], %b::bytea[]) AS n"
            )
            .format(**names)
            .as_bytes(None)
        )

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        """Append atomically; returns the notification ids in order.

        Not retried here (unlike the library's): after a lost connection the
        commit may or may not have happened, and only the caller can tell a
        repeat from a conflict. Raises IntegrityError on a version conflict,
        OperationalError on a timeout or a lost connection."""
        if kwargs.get("tracking") is not None:
            raise NotImplementedError("the ledger recorder does not record tracking")
        if not stored_events:
            return []
        params = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
            # Hashed here, before the lock: the costly part of the chain.
            [
                chain.digest(e.originator_id, e.originator_version, e.topic, e.state)
                for e in stored_events
            ],
        )
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(self._append, params, prepare=True)
            return [row["n"] for row in cur.fetchall()]


class LedgerFactory(PostgresFactory):
    """The library's PostgreSQL factory with the ledger recorder and session limits."""

    aggregate_recorder_class = RenderedSelects  # the snapshot store's
    application_recorder_class = LedgerRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        limits = {
            "statement_timeout": self.env.get(STATEMENT_TIMEOUT_MS) or "0",
            "lock_timeout": self.env.get(LOCK_TIMEOUT_MS) or "0",
        }
        # The pool opens its connections lazily, so they all get these options.
        options = " ".join(f"-c {name}={int(value)}" for name, value in limits.items())
        # The same pool as the library builds (not opened yet), with the cheap
        # check of 4. above and the session options.
        built = self.datastore.pool
        assert isinstance(built.kwargs, dict), "the library passes connection kwargs as a dict"
        self.datastore.pool = ConnectionPool(
            connection_class=Connection[DictRow],
            kwargs={**built.kwargs, "options": options},
            min_size=built.min_size,
            max_size=built.max_size,
            open=False,
            configure=self.datastore.after_connect_func(),
            timeout=built.timeout,
            max_waiting=built.max_waiting,
            max_lifetime=built.max_lifetime,
            check=check_if_readable,
        )


def has_unread_input(fileno: int) -> bool:
    """Whether the server has sent an idle pooled connection something: it
    sends nothing unless it ended the session (or, rarely, sent a notice)."""
    readable, _, _ = select.select([fileno], [], [], 0)
    return bool(readable)


def check_if_readable(conn: Connection[Any]) -> None:
    """Ping a pooled connection only if it has unread input. Raises like the
    pool's own check if the connection is broken."""
    if has_unread_input(conn.fileno()):
        ConnectionPool.check_connection(conn)
