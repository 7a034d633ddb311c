"""Walk the ledger's hash chain (commands/chain.py) in pages and report where
it breaks; and backfill the chain once for a ledger older than it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg import Connection

from commands import chain
from ops import chain_pages
from ops.chain_pages import Row, Summary, Tables

__all__ = ["Break", "Report", "Tables", "backfill", "verify"]

PAGE = 50_000  # notification ids per page (the backfill's rows per page)


@dataclass(frozen=True)
class Break:
    """One place where the ledger differs from what was appended."""

    notification_id: int
    kind: str  # altered | reordered | deleted | inserted | relinked | undecodable | duplicated
    detail: str


@dataclass
class Report:
    """What a walk found: the breaks (the first ``limit`` of them) and the head."""

    checked: int = 0
    head_id: int = 0  # the last link seen (0: none yet, before the first event)
    head_link: bytes = chain.GENESIS
    breaks: list[Break] = field(default_factory=list)


Decoder = Callable[[StoredEvent], object] | None  # None: check the bytes only


class Walk:
    """One pass over the ledger, comparing each event with its link."""

    def __init__(self, conn: Connection[Any], tables: Tables, decode: Decoder, limit: int):
        self.conn, self.tables, self.decode, self.limit = conn, tables, decode, limit
        self.report = Report()
        self.last = 0  # the last notification id seen, to tell a repeated one
        self.head_at: tuple[int, bytes | None] | None = None  # (--head's id, its link once seen)

    def passes(self, page: Summary) -> bool:
        """Whether a page holds as a whole (then it is counted, and the head
        moves on, without looking at a row); if not, its rows say what broke."""
        if page.rows == 0:
            return True
        if page.odd or page.first_previous != self.report.head_id or page.last_id is None:
            return False
        link = chain_pages.last_link(self.report.head_link, page.digests, page.links)
        if link is None:
            return False
        self.report.checked += page.rows
        self.report.head_id, self.report.head_link, self.last = page.last_id, link, page.last_id
        return True

    def walk_rows(self, rows: Iterable[tuple[int, Row | None, Row | None]]) -> bool:
        """Check each row; whether to go on looking."""
        for nid, ev, ln in rows:
            if nid == self.last:
                go_on = self.found(nid, "duplicated", "two rows carry this notification id")
            else:
                go_on = self.check(nid, ev, ln)
            self.last = nid
            if self.head_at is not None and nid == self.head_at[0] and ln is not None:
                self.head_at = (nid, bytes(ln[3]))
            if not go_on:
                return False
        return True

    def found(self, nid: int, kind: str, detail: str) -> bool:
        """Record a break; whether to go on looking."""
        self.report.breaks.append(Break(nid, kind, detail))
        return len(self.report.breaks) < self.limit

    def check(self, nid: int, ev: Row | None, ln: Row | None) -> bool:
        if ev is not None:
            self.report.checked += 1
        if ln is None:
            return self.found(nid, "inserted", "the event has no link: not appended by the ledger")
        if ev is None:
            return self.found(nid, "deleted", "the event is gone; its link remains")
        go_on = self._check_link(nid, ln) and self._check_event(nid, ev, bytes(ln[2]))
        # Go on from this link as stored, so each later break is found on its own.
        self.report.head_id, self.report.head_link = nid, bytes(ln[3])
        return go_on

    def _check_link(self, nid: int, ln: Row) -> bool:
        previous_id, event_digest, stored_link = ln[1], bytes(ln[2]), bytes(ln[3])
        last_id = self.report.head_id
        if previous_id != last_id:
            if previous_id > last_id:
                detail = f"the link says event {previous_id} came before; it is gone"
                return self.found(previous_id, "deleted", detail)
            return self.found(nid, "reordered", f"the link follows {previous_id}, not {last_id}")
        if stored_link != chain.link(self.report.head_link, event_digest):
            return self.found(nid, "relinked", "the link does not follow from the one before")
        return True

    def _check_event(self, nid: int, ev: Row, appended: bytes) -> bool:
        actual = bytes(ev[5])
        if actual != appended:
            other = self._appended_as(actual)
            if other is not None:
                return self.found(nid, "reordered", f"it holds the event appended as {other}")
            return self.found(nid, "altered", "its bytes differ from those appended")
        if self.decode is None:
            return True
        try:
            self.decode(StoredEvent(ev[1], ev[2], ev[3], bytes(ev[4])))
        except Exception as exc:  # any failure to decode is a finding, not a crash
            return self.found(nid, "undecodable", f"{type(exc).__name__}: {exc}"[:200])
        return True

    def _appended_as(self, event_digest: bytes) -> int | None:
        statement = self.tables.sql("SELECT notification_id FROM {chain} WHERE digest = %s LIMIT 1")
        with self.conn.cursor() as cur:
            row = cur.execute(statement, (event_digest,)).fetchone()
        if row is None:
            return None
        return int(row["notification_id"] if isinstance(row, dict) else row[0])


def verify(
    conn: Connection[Any],
    tables: Tables,
    decode: Decoder,
    limit: int = 10,
    head: tuple[int, bytes] | None = None,
) -> Report:
    """Walk events and links in order, in one snapshot (appends go on meanwhile:
    an event and its link commit together, so the snapshot has both or neither).
    ``head``: a (notification id, link) printed by an earlier walk and kept
    elsewhere; the chain must still pass through it, which a rewrite of every
    link after an edit, or a cut tail, cannot fake."""
    walk = Walk(conn, tables, decode, limit)
    walk.head_at = None if head is None else (head[0], None)
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # Pages hold as a whole unless something broke (or each event is to
        # be decoded); only then, or at --head's id, are their rows read.
        for page in chain_pages.pages(conn, tables, PAGE, summaries=decode is None):
            at_head = head is not None and page.after < head[0] <= page.upto
            if page.summary is not None and not at_head and walk.passes(page.summary):
                continue
            if not walk.walk_rows(chain_pages.rows(conn, tables, page, decode is not None)):
                return walk.report
    if head is not None:
        _check_head(walk, head, walk.head_at[1] if walk.head_at else None)
    return walk.report


def _check_head(walk: Walk, head: tuple[int, bytes], seen: bytes | None) -> None:
    if seen is None:
        walk.found(head[0], "deleted", "the chain no longer reaches the head recorded earlier")
    elif seen != head[1]:
        walk.found(
            head[0], "relinked", "the chain was rewritten: this link is not the one recorded"
        )


def backfill(conn: Connection[Any], tables: Tables) -> int:
    """Link every event of a ledger whose chain is empty (one older than the
    chain), under the append's lock; returns the events linked. A chain that
    has any link is left alone: linking events after it would vouch for rows
    nobody appended through the ledger."""
    with conn.transaction():
        conn.execute(tables.sql("LOCK TABLE {events} IN EXCLUSIVE MODE"))
        if conn.execute(tables.sql("SELECT 1 FROM {chain} LIMIT 1")).fetchone():
            return 0
        head_id, head, count = 0, chain.GENESIS, 0
        select = tables.sql(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {events} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        )
        insert = tables.sql(
            "INSERT INTO {chain} (notification_id, previous_id, digest, link)"
            " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[], %s::bytea[])"
        )
        while True:
            rows = [tuple(r.values()) for r in conn.execute(select, (head_id, PAGE)).fetchall()]
            if not rows:
                return count
            columns: tuple[list[int], list[int], list[bytes], list[bytes]] = ([], [], [], [])
            for nid, oid, version, topic, state in rows:
                d = chain.digest(oid, version, topic, bytes(state))
                head = chain.link(head, d)
                for column, value in zip(columns, (nid, head_id, d, head), strict=True):
                    column.append(value)  # type: ignore[attr-defined]
                head_id = nid
            conn.execute(insert, columns)
            count += len(rows)
