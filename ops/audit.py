"""`cloudledger audit`: list the ledger's events (and rejected requests) as a
table or CADF JSON lines, one resource's history, every resource as of a
moment, and the hash chain's verification."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from eventsourcing.persistence import PersistenceError

from commands.app import CloudApp
from commands.bootstrap import Settings, build_app
from commands.ledger_store import LedgerRecorder
from domain.errors import InvalidInput
from ops import audit_chain
from projections import audit
from projections.audit_state import states_as_of
from projections.audit_trail import AuditTrail


def add_parser(sub: Any) -> None:
    """The `audit` subcommand and its own subcommands."""
    p = sub.add_parser("audit", help="the ledger as an audit trail (see `audit -h`)")
    p.set_defaults(main=main_audit)
    _filters(p)
    p.add_argument("--json", action="store_true", help="CADF events as JSON lines")
    p.add_argument("--limit", type=int, default=0, help="at most this many (0: all)")
    inner = p.add_subparsers(dest="audit_command")
    history = inner.add_parser("history", help="every event of one resource, oldest first")
    history.add_argument("resource_id")
    history.add_argument("--json", action="store_true", help="CADF events as JSON lines")
    as_of = inner.add_parser("as-of", help="each resource's state as it was at a moment")
    as_of.add_argument("timestamp", help="ISO 8601, e.g. 2026-12-02T13:00:00Z")
    as_of.add_argument("--project", help="only this project's resources")
    as_of.add_argument("--resource", help="only this resource")
    verify = inner.add_parser("verify", help="check the hash chain; non-zero if broken")
    verify.add_argument("--max-breaks", type=int, default=10, help="stop after this many")
    verify.add_argument("--head", help="ID:LINK printed by an earlier verify; must still hold")
    verify.add_argument(
        "--decode",
        action="store_true",
        help="also decode every event, to find bytes a writer's bug made unreadable (slower)",
    )
    # Hashing only is the default now; the flag stays for scripts that pass it.
    verify.add_argument("--bytes-only", action="store_true", help=argparse.SUPPRESS)


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", help="events by this project or about its resources")
    p.add_argument("--user", help="events caused by this user id")
    p.add_argument("--resource", help="events of this resource id")
    p.add_argument("--type", dest="resource_type", help=f"one of: {', '.join(audit.TYPES)}")
    p.add_argument("--action", help="create, update, delete, or an event name (StopRequested)")
    p.add_argument("--since", help="ISO 8601 time, inclusive")
    p.add_argument("--until", help="ISO 8601 time, inclusive")


def main_audit(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    try:
        app = build_app(settings.database_url, pool_size=2, limits=settings.database_limits)
        try:
            return _run(app, args, out or sys.stdout)
        finally:
            app.close()
    except InvalidInput as exc:
        print(f"cloudledger audit: {exc.message}", file=sys.stderr)
        return 2
    except PersistenceError as exc:  # unreachable, timed out: say so, no traceback
        print(f"cloudledger audit: cannot read the ledger: {exc}", file=sys.stderr)
        return 3


def _run(app: CloudApp, args: argparse.Namespace, out: TextIO) -> int:
    command = args.audit_command
    if command == "verify":
        head = _head(args.head) if args.head else None
        return _verify(app, args.max_breaks, args.decode, head, out)
    if command == "history":
        return _history(app, args.resource_id, args.json, out)
    if command == "as-of":
        return _as_of(app, args, out)
    return _list(app, args, out)


def _reader(app: CloudApp) -> audit.AuditReader:
    return audit.AuditReader(_recorder(app), app.mapper.to_domain_event)


def _recorder(app: CloudApp) -> LedgerRecorder:
    recorder = app.recorder
    assert isinstance(recorder, LedgerRecorder), "needs the PostgreSQL ledger"
    return recorder


def _list(app: CloudApp, args: argparse.Namespace, out: TextIO) -> int:
    if args.limit < 0:
        raise InvalidInput("--limit must be 0 (all) or more")
    query = audit.AuditFilter.parse(
        project=args.project,
        user=args.user,
        resource=args.resource,
        resource_type=args.resource_type,
        action=args.action,
        since=args.since,
        until=args.until,
    )
    records = (record for record, _ in AuditTrail(_reader(app)).records(query))
    _print(itertools.islice(records, args.limit or None), args.json, out)
    return 0


def _history(app: CloudApp, resource_id: str, as_json: bool, out: TextIO) -> int:
    query = audit.AuditFilter.parse(resource=resource_id)
    records = [record for record, _ in AuditTrail(_reader(app)).records(query)]
    if not records:
        print(f"cloudledger audit: nothing recorded about resource {resource_id}", file=sys.stderr)
        return 1
    _print(records, as_json, out)
    return 0


def _as_of(app: CloudApp, args: argparse.Namespace, out: TextIO) -> int:
    at = audit.parse_time(args.timestamp, "timestamp")
    resource = audit.parse_uuid(args.resource, "--resource") if args.resource else None
    states = states_as_of(_reader(app), at, project=args.project, resource=resource)
    if not states:
        what = f"resource {args.resource}" if args.resource else "resource"
        print(f"cloudledger audit: no {what} existed at {at.isoformat()}", file=sys.stderr)
        return 1
    for state in states:
        print(json.dumps(state, sort_keys=True, default=str), file=out)
    return 0


def _print(records: Iterable[dict[str, Any]], as_json: bool, out: TextIO) -> None:
    if as_json:
        for record in records:
            print(json.dumps(record, sort_keys=True), file=out)
        return
    print(f"{'TIME':32}  {'OUTCOME':8}  {'ACTION':28}  {'TARGET':45}  WHO", file=out)
    for r in records:
        who = f"{r['initiator']['id']}@{r['initiator']['project_id'] or '-'}"
        target = f"{r['target']['typeURI']}/{r['target']['id']}"
        action = f"{r['action']}:{r['event']}" if r["event"] else r["action"]
        print(f"{r['eventTime']:32}  {r['outcome']:8}  {action:28}  {target:45}  {who}", file=out)


def _head(text: str) -> tuple[int, bytes]:
    nid, _, link = text.partition(":")
    try:
        parsed = int(nid), bytes.fromhex(link)
    except ValueError:
        parsed = (0, b"")
    if parsed[0] <= 0 or len(parsed[1]) != 32:
        raise InvalidInput(f"--head {text[:80]!r} is not ID:LINK as verify prints them")
    return parsed


def _verify(
    app: CloudApp, max_breaks: int, decode: bool, head: tuple[int, bytes] | None, out: TextIO
) -> int:
    recorder = _recorder(app)
    tables = audit_chain.Tables(recorder.datastore.schema, recorder.events_table_name)
    with recorder.datastore.get_connection() as conn:
        decoder = app.mapper.to_domain_event if decode else None
        report = audit_chain.verify(conn, tables, decoder, max(1, max_breaks), head)
    breaks = report.breaks
    for b in breaks:
        print(f"BROKEN at notification id {b.notification_id}: {b.kind}: {b.detail}", file=out)
    print(
        f"{report.checked} events checked; chain head (keep it, for --head):"
        f" {report.head_id}:{report.head_link.hex()}",
        file=out,
    )
    if breaks:
        print("the ledger does NOT match what was appended", file=out)
        return 1
    print("the ledger matches what was appended", file=out)
    return 0
