"""The ledger's events and hash-chain links, read in pages of notification ids
for `audit verify` (ops/audit_chain.py), two ways:

- a page's summary: PostgreSQL hashes each event's stored bytes (as
  commands/chain.py does) and compares them with the digests the chain
  holds, checks that each link names the one before, and sends the digests
  and links only, concatenated; Python then links the digests over a
  memoryview. No event's bytes, and no per-row object, reach Python.
- a page's rows, side by side, for finding out what broke in a page whose
  summary does not hold (or for decoding each event).

The hash is pg_catalog's sha256, not one a schema could shadow."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

_DIGEST = """pg_catalog.sha256(uuid_send(e.originator_id) || int8send(e.originator_version)
  || int4send(octet_length(e.topic)) || convert_to(e.topic, 'UTF8') || e.state)"""
_RANGE = "notification_id > %(after)s AND notification_id <= %(upto)s"

_SUMMARY_SQL = f"""
WITH e AS (SELECT notification_id, {_DIGEST} AS actual FROM {{events}} e WHERE {_RANGE}),
c AS (SELECT notification_id, previous_id, digest, link,
             lag(notification_id) OVER (ORDER BY notification_id) AS before
      FROM {{chain}} WHERE {_RANGE})
SELECT count(*),
       count(*) FILTER (WHERE e.actual IS DISTINCT FROM c.digest OR c.previous_id <> c.before)
         + count(*) - count(DISTINCT notification_id),
       min(c.previous_id) FILTER (WHERE c.before IS NULL),
       max(notification_id),
       coalesce(string_agg(c.digest, ''::bytea ORDER BY notification_id), ''::bytea),
       coalesce(string_agg(c.link, ''::bytea ORDER BY notification_id), ''::bytea)
FROM e FULL JOIN c USING (notification_id)
"""
_ROWS_SQL = f"""
SELECT notification_id, e.originator_id, e.originator_version, e.topic, {{state}}, {_DIGEST},
       c.previous_id, c.digest, c.link
FROM (SELECT * FROM {{events}} WHERE {_RANGE}) e
FULL JOIN (SELECT * FROM {{chain}} WHERE {_RANGE}) c USING (notification_id)
ORDER BY notification_id
"""
Row = tuple[Any, ...]


@dataclass(frozen=True)
class Tables:
    """The events table and its chain, schema-qualified."""

    schema: str
    events: str

    def sql(self, template: str) -> bytes:
        return (
            SQL(template)
            .format(
                events=Identifier(self.schema, self.events),
                chain=Identifier(self.schema, f"{self.events}_chain"),
            )
            .as_bytes(None)
        )


@dataclass(frozen=True)
class Summary:
    """One page as PostgreSQL saw it. ``odd``: rows whose event and link
    disagree, or are missing, or repeat an id, or whose link does not name
    the link before it in the page."""

    rows: int
    odd: int
    first_previous: int | None  # the id the page's first link names
    last_id: int | None
    digests: bytes  # 32 bytes a link, in order
    links: bytes


@dataclass(frozen=True)
class Page:
    after: int  # notification ids after this one ...
    upto: int  # ... up to this one
    summary: Summary | None  # None: not read (the caller reads the rows)


def highest_id(conn: Connection[Any], tables: Tables) -> int:
    statement = tables.sql(
        "SELECT greatest((SELECT max(notification_id) FROM {events}),"
        " (SELECT max(notification_id) FROM {chain}))"
    )
    with conn.cursor(row_factory=tuple_row) as cur:
        return int((cur.execute(statement).fetchone() or (0,))[0] or 0)


def pages(conn: Connection[Any], tables: Tables, size: int, summaries: bool) -> Iterator[Page]:
    """Every page up to the highest id, with its summary if asked: the next
    page's is read (the database's work, off the GIL) while this one is checked."""
    top, statement = highest_id(conn, tables), tables.sql(_SUMMARY_SQL)

    def read(after: int) -> Page:
        if not summaries:
            return Page(after, after + size, None)
        bounds = {"after": after, "upto": after + size}
        with conn.cursor(row_factory=tuple_row) as cur:
            found = cur.execute(statement, bounds, prepare=True, binary=True).fetchone()
        assert found is not None, "an aggregate always returns a row"
        count, odd, first_previous, last_id, digests, links = found
        summary = Summary(count, odd, first_previous, last_id, bytes(digests), bytes(links))
        return Page(after, after + size, summary)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-read") as reader:
        after, coming = 0, reader.submit(read, 0)
        while after < top:
            page, after = coming.result(), after + size
            if after < top:
                coming = reader.submit(read, after)
            yield page


def last_link(previous: bytes, digests: bytes, links: bytes) -> bytes | None:
    """The page's last link if each of its links follows from the one before
    (the first from ``previous``), else None."""
    digest_view, link_view = memoryview(digests), memoryview(links)
    link, sha256 = previous, hashlib.sha256
    for at in range(0, len(digest_view), 32):
        link = sha256(link + digest_view[at : at + 32]).digest()
        if link != link_view[at : at + 32]:
            return None
    return link


def rows(
    conn: Connection[Any], tables: Tables, page: Page, with_state: bool
) -> Iterator[tuple[int, Row | None, Row | None]]:
    """(notification id, event or None, link or None), in order. An event is
    (id, originator id, version, topic, state or None, digest of its bytes);
    a link (id, previous id, digest, link)."""
    statement = tables.sql(_ROWS_SQL.replace("{state}", "e.state" if with_state else "NULL"))
    with conn.cursor(row_factory=tuple_row) as cur:
        bounds = {"after": page.after, "upto": page.upto}
        found = cur.execute(statement, bounds, prepare=True, binary=True).fetchall()
    for nid, oid, version, topic, state, actual, previous, appended, link in found:
        event = None if oid is None else (nid, oid, version, topic, state, actual)
        yield nid, event, None if previous is None else (nid, previous, appended, link)
