"""`cloudledger ledger stats`: what the ledger holds, counted by PostgreSQL in
aggregate SQL (nothing is decoded, no event is loaded into Python): events
and streams per aggregate type, the longest streams, and events per month
or day of their own timestamps."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from eventsourcing.persistence import PersistenceError
from psycopg import Connection
from psycopg.rows import tuple_row

from commands.bootstrap import Settings, build_app
from commands.ledger_store import LedgerRecorder
from ops.audit_chain import Tables

# One pass over the events: each stream's length and version, and the topic
# of its first event, whose class names the aggregate (a stream's later
# events may be declared on a base class, as Resizing's are on Instance's).
STREAMS = """
WITH streams AS MATERIALIZED (
  SELECT originator_id, count(*) AS events, max(originator_version) AS version,
         min(topic) FILTER (WHERE originator_version = 1) AS created
  FROM {events} GROUP BY originator_id)
SELECT
  (SELECT coalesce(json_agg(t ORDER BY t.events DESC), '[]') FROM
     (SELECT created, count(*) AS streams, sum(events) AS events
      FROM streams GROUP BY created) t),
  (SELECT coalesce(json_agg(l ORDER BY l.events DESC, l.originator_id), '[]') FROM
     (SELECT originator_id, created, version, events FROM streams
      ORDER BY events DESC, originator_id LIMIT %s) l)
"""
# The library stores an event's timestamp first in its JSON state, so the
# date is at a fixed offset: read from the bytes, without parsing them.
STAMP_PREFIX = b'{"timestamp":{"_type_":"datetime_iso","_data_":"'
PERIODS = {"month": 7, "day": 10}  # characters of YYYY-MM-DD
BY_PERIOD = """
SELECT CASE WHEN substring(state FROM 1 FOR %(prefix_length)s) = %(prefix)s
            THEN convert_from(substring(state FROM %(start)s FOR %(length)s), 'UTF8') END,
       count(*)
FROM {events} GROUP BY 1 ORDER BY 1
"""
HEAD = "SELECT count(*), coalesce(max(notification_id), 0) FROM {events}"


@dataclass(frozen=True)
class TypeCount:
    aggregate: str
    streams: int
    events: int


@dataclass(frozen=True)
class Stream:
    originator_id: str
    aggregate: str
    version: int
    events: int


@dataclass(frozen=True)
class LedgerStats:
    events: int
    head: int  # the last notification id
    by_type: list[TypeCount]
    longest: list[Stream]
    by_period: list[tuple[str, int]]  # ("2026-03", events); "unknown" for an unreadable stamp


def aggregate_name(created_topic: str | None) -> str:
    """``domain.quota:Quota.Created`` -> ``Quota``."""
    if not created_topic:
        return "(no first event)"
    qualname = created_topic.partition(":")[2] or created_topic
    return qualname.rsplit(".", 1)[0]


def read_stats(conn: Connection[Any], tables: Tables, top: int, period: str) -> LedgerStats:
    """Three statements in one snapshot, so the figures agree with each other."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute("SET LOCAL statement_timeout = '10min'")  # a big ledger takes a while
        events, head = cur.execute(tables.sql(HEAD)).fetchone() or (0, 0)
        types, longest = cur.execute(tables.sql(STREAMS), (top,)).fetchone() or ([], [])
        length = PERIODS[period]
        params = {"prefix": STAMP_PREFIX, "prefix_length": len(STAMP_PREFIX),
                  "start": len(STAMP_PREFIX) + 1, "length": length}  # fmt: skip
        periods = cur.execute(tables.sql(BY_PERIOD), params).fetchall()
    return LedgerStats(
        events=int(events),
        head=int(head),
        by_type=_merged_types(types),
        longest=[
            Stream(s["originator_id"], aggregate_name(s["created"]), s["version"], s["events"])
            for s in longest
        ],
        by_period=[(when or "unknown", int(n)) for when, n in periods],
    )


def _merged_types(rows: list[dict[str, Any]]) -> list[TypeCount]:
    """By aggregate: two creation events of one aggregate count together."""
    merged: dict[str, TypeCount] = {}
    for row in rows:
        name = aggregate_name(row["created"])
        was = merged.get(name, TypeCount(name, 0, 0))
        merged[name] = TypeCount(name, was.streams + row["streams"], was.events + row["events"])
    return sorted(merged.values(), key=lambda t: (-t.events, t.aggregate))


def render_table(stats: LedgerStats, out: TextIO) -> None:
    streams = sum(t.streams for t in stats.by_type)
    print(
        f"{stats.events} events in {streams} streams; last notification id {stats.head}", file=out
    )
    print("\nevents by aggregate type:", file=out)
    print(f"  {'type':<20} {'streams':>10} {'events':>12} {'share':>7}", file=out)
    for t in stats.by_type:
        share = 100 * t.events / stats.events if stats.events else 0.0
        print(f"  {t.aggregate:<20} {t.streams:>10} {t.events:>12} {share:>6.1f}%", file=out)
    print("\nlongest streams:", file=out)
    print(f"  {'originator id':<36} {'type':<16} {'version':>8} {'events':>8}", file=out)
    for s in stats.longest:
        print(f"  {s.originator_id:<36} {s.aggregate:<16} {s.version:>8} {s.events:>8}", file=out)
    print("\nevents by their timestamps:", file=out)
    for when, count in stats.by_period:
        print(f"  {when:<10} {count:>12}", file=out)


def render_json(stats: LedgerStats, out: TextIO) -> None:
    document = asdict(stats)
    document["by_period"] = [{"period": when, "events": n} for when, n in stats.by_period]
    print(json.dumps(document, sort_keys=True), file=out)


def add_parser(sub: Any) -> None:
    """The `ledger` subcommands, on the CLI's subparsers."""
    ledger = sub.add_parser("ledger", help="what the ledger holds")
    actions = ledger.add_subparsers(dest="ledger", required=True)
    stats = actions.add_parser("stats", help="events per aggregate type, longest streams, by time")
    stats.add_argument("--top", type=int, default=10, help="how many longest streams")
    stats.add_argument("--by", choices=sorted(PERIODS), default="month", help="events per …")
    stats.add_argument("--json", action="store_true", help="one JSON document")
    stats.set_defaults(main=main_ledger)


def main_ledger(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    if args.top < 0:
        print("cloudledger ledger stats: --top must not be negative", file=sys.stderr)
        return 2
    try:
        app = build_app(settings.database_url, pool_size=1, limits=settings.database_limits)
        try:
            recorder = app.recorder
            assert isinstance(recorder, LedgerRecorder), "needs the PostgreSQL ledger"
            tables = Tables(recorder.datastore.schema, recorder.events_table_name)
            with recorder.datastore.get_connection() as conn:
                stats = read_stats(conn, tables, args.top, args.by)
        finally:
            app.close()
    except PersistenceError as exc:
        print(f"cloudledger ledger stats: cannot read the ledger: {exc}", file=sys.stderr)
        return 3
    (render_json if args.json else render_table)(stats, out or sys.stdout)
    return 0
