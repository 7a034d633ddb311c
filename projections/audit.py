"""The audit trail, read from the ledger itself: each stored event (and each
rejected request, commands/rejections.py) as a CADF event, filtered and read
in pages by notification id, never the whole ledger at once.

Not a projection with tables of its own: the ledger is the audit, and a copy
would be one more thing to trust. Events decode through the application's
mapper, so what is read is exactly what the application replays."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from domain.errors import InvalidInput
from domain.resources import audit_types

PAGE = 1000
# Aggregate class (the event's outer class) -> (type name for --type, CADF
# typeURI), as each resource declares it (domain/resources/).
_TYPES: dict[str, tuple[str, str]] = {
    aggregate: (t.name, t.type_uri) for t in audit_types() for aggregate in t.aggregates
}
TYPES = tuple(sorted({t.name for t in audit_types()}))
OWNER_FIELDS = ("project_id", "owner", "tenant_id", "default_project_id")


def parse_time(value: str, what: str) -> datetime:
    """An ISO 8601 time (UTC if it names no zone); InvalidInput otherwise."""
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{what} {value!r} is not an ISO 8601 time (e.g. 2026-12-02T13:00:00Z)"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def parse_uuid(value: str, what: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput(f"{what} {value!r} is not a resource id (a UUID)") from None


def _norm(project_id: str) -> str:
    return project_id.replace("-", "").lower()


@dataclass(frozen=True)
class AuditFilter:
    """What to list; every field optional."""

    project: str | None = None
    user: str | None = None
    resource: UUID | None = None
    resource_type: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, **raw: str | None) -> AuditFilter:
        """From user input; InvalidInput names the bad value."""
        rtype = raw.get("resource_type")
        if rtype is not None and rtype not in TYPES:
            raise InvalidInput(f"unknown resource type {rtype!r}; known: {', '.join(TYPES)}")
        since, until, resource = raw.get("since"), raw.get("until"), raw.get("resource")
        project = raw.get("project")
        found = cls(
            project=_norm(project) if project else None,
            user=raw.get("user") or None,
            resource=parse_uuid(resource, "resource") if resource else None,
            resource_type=rtype,
            action=raw.get("action") or None,
            since=parse_time(since, "since") if since else None,
            until=parse_time(until, "until") if until else None,
        )
        if found.since and found.until and found.since > found.until:
            raise InvalidInput("since is after until")
        return found

    def matches(self, record: dict[str, Any], owner: str | None) -> bool:
        initiator, target = record["initiator"], record["target"]
        if self.user is not None and initiator["id"] != self.user:
            return False
        if self.project is not None and self.project not in (
            _norm(initiator["project_id"]),
            owner,
            _norm(target["id"]) if target["typeURI"] == "identity/project" else None,
        ):
            return False
        if self.resource_type is not None and record["resource_type"] != self.resource_type:
            return False
        if self.action is not None and self.action not in _action_names(record):
            return False
        return self.in_time(datetime.fromisoformat(record["eventTime"]))

    def in_time(self, at: datetime) -> bool:
        return (self.since is None or at >= self.since) and (self.until is None or at <= self.until)


def _action_names(record: dict[str, Any]) -> set[str]:
    event = record["event"]
    return {record["action"], event, event.rsplit(".", 1)[-1]}


def _verb(event_name: str) -> str:
    last = event_name.rsplit(".", 1)[-1]
    if last in ("Created", "Requested", "Registered"):
        return "create"
    if last.startswith("Delete") or last in ("Deleted", "Discarded"):
        return "delete"
    return "update"


def cadf(notification_id: int, event: Any) -> dict[str, Any]:
    """One domain event as a CADF event (no payload: no secret can leak)."""
    cls = type(event)
    aggregate_name = cls.__qualname__.split(".")[0]
    type_name, type_uri = _TYPES.get(aggregate_name, (aggregate_name.lower(), "data"))
    actor = getattr(event, "actor", None)
    roles = list(getattr(actor, "roles", ()))
    return {
        "typeURI": "http://schemas.dmtf.org/cloud/audit/1.0/event",
        "eventType": "activity",
        "id": f"ledger-{notification_id}",
        "notification_id": notification_id,
        "eventTime": event.timestamp.astimezone(UTC).isoformat(timespec="microseconds"),
        "action": _verb(cls.__qualname__),
        "event": cls.__qualname__,
        "outcome": "success",
        "initiator": {
            "typeURI": "service/security/account/user",
            "id": getattr(actor, "user_id", "unknown"),
            "project_id": getattr(actor, "project_id", ""),
            "roles": roles,
        },
        "target": {"typeURI": type_uri, "id": str(event.originator_id)},
        "resource_type": type_name,
        "observer": {"typeURI": "service/cloudledger/ledger", "id": "cloudledger"},
        "request_id": getattr(actor, "request_id", ""),
    }


Decoder = Callable[[StoredEvent], Any]


class AuditReader:
    """Reads events in pages by notification id and turns them into CADF."""

    def __init__(self, recorder: PostgresApplicationRecorder, decode: Decoder) -> None:
        self.datastore, self.decode = recorder.datastore, decode
        table = Identifier(recorder.datastore.schema, recorder.events_table_name)
        columns = "notification_id, originator_id, originator_version, topic, state"
        self._page = SQL(
            f"SELECT {columns} FROM {{}} WHERE notification_id > %s"
            " ORDER BY notification_id LIMIT %s"
        ).format(table)
        self._page_of = SQL(
            f"SELECT {columns} FROM {{}} WHERE originator_id = %s AND notification_id > %s"
            " ORDER BY notification_id LIMIT %s"
        ).format(table)
        self._firsts = SQL(
            f"SELECT {columns} FROM {{}} WHERE originator_id = ANY(%s) AND originator_version = 1"
        ).format(table)
        self._owners: dict[UUID, str | None] = {}

    def events(self, resource: UUID | None = None, after: int = 0) -> Iterator[tuple[int, Any]]:
        """(notification id, domain event) in order, a page at a time."""
        while True:
            rows = self._rows(resource, after)
            if not rows:
                return
            for row in rows:
                yield row["notification_id"], self.decode(_stored(row))
            after = rows[-1]["notification_id"]

    def records(
        self, query: AuditFilter, limit: int | None = None, after: int = 0
    ) -> Iterator[dict[str, Any]]:
        """The CADF records of the events that match, in notification order."""
        count = 0
        for nid, event in self.events(query.resource, after):
            record = cadf(nid, event)
            owner = self._owner(event.originator_id) if query.project else None
            if query.matches(record, owner):
                yield record
                count += 1
                if limit is not None and count >= limit:
                    return

    def _rows(self, resource: UUID | None, after: int) -> list[Any]:
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            if resource is None:
                cur.execute(self._page, (after, PAGE), prepare=True)
            else:
                cur.execute(self._page_of, (resource, after, PAGE), prepare=True)
            return cur.fetchall()

    def _owner(self, originator_id: UUID) -> str | None:
        """The project a resource belongs to, from its first event (cached)."""
        if originator_id not in self._owners:
            with self.datastore.get_connection() as conn, conn.cursor() as cur:
                cur.execute(self._firsts, ([originator_id],))
                row = cur.fetchone()
            first = self.decode(_stored(row)) if row else None
            owners = [getattr(first, name, None) for name in OWNER_FIELDS]
            owner = next((o for o in owners if isinstance(o, str) and o), None)
            self._owners[originator_id] = _norm(owner) if owner else None
        return self._owners[originator_id]


def _stored(row: Any) -> StoredEvent:
    return StoredEvent(
        originator_id=row["originator_id"],
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )
