"""The whole audit trail: the ledger's events and the rejected requests
(commands/rejections.py), merged by time, in pages resumed from a marker
that says how far each of the two has been read ("<notification id>-<row id>")."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from domain.errors import InvalidInput
from domain.resources import audit_types
from projections.audit import PAGE, AuditFilter, AuditReader

# A path segment of a refused request -> (type name, CADF typeURI), as each
# resource declares it (domain/resources/).
_PATH_TYPES = {path: (t.name, t.type_uri) for t in audit_types() for path in t.paths}
_SELECT = (
    "SELECT id, at, user_id, project_id, request_id, action, target, outcome, reason, status"
    " FROM audit_rejections WHERE id > %s AND at >= %s AND at <= %s ORDER BY id LIMIT %s"
)


@dataclass(frozen=True)
class Marker:
    """How far each stream was read: the last notification id and rejection id given."""

    events: int = 0
    rejections: int = 0

    @classmethod
    def parse(cls, text: str | None) -> Marker:
        if not text:
            return cls()
        try:
            events, rejections = (int(part) for part in text.split("-"))
        except ValueError:
            raise InvalidInput(f"marker {text[:40]!r} is not one this API gave") from None
        if events < 0 or rejections < 0:
            raise InvalidInput(f"marker {text[:40]!r} is not one this API gave")
        return cls(events, rejections)

    def __str__(self) -> str:
        return f"{self.events}-{self.rejections}"


def _typed(path: str) -> tuple[str, str]:
    parts = [p for p in path.split("/") if p]
    for part in parts:
        if part in _PATH_TYPES:
            return _PATH_TYPES[part]
    return ("request", "service/cloudledger/api")


def rejection_cadf(row: Any) -> dict[str, Any]:
    """One rejected request as a CADF event: who, what for, why not."""
    type_name, type_uri = _typed(row["target"])
    return {
        "typeURI": "http://schemas.dmtf.org/cloud/audit/1.0/event",
        "eventType": "activity",
        "id": f"rejection-{row['id']}",
        "eventTime": row["at"].astimezone(UTC).isoformat(timespec="microseconds"),
        "action": row["action"].rsplit(":", 1)[-1],
        "event": row["action"],
        "outcome": row["outcome"],
        "reason": {
            "reasonType": "HTTP",
            "reasonCode": str(row["status"]),
            "description": row["reason"],
        },
        "initiator": {
            "typeURI": "service/security/account/user",
            "id": row["user_id"],
            "project_id": row["project_id"],
            "roles": [],
        },
        "target": {"typeURI": type_uri, "id": row["target"]},
        "resource_type": type_name,
        "observer": {"typeURI": "service/cloudledger/api", "id": "cloudledger-api"},
        "request_id": row["request_id"],
    }


class AuditTrail:
    """Events and rejections, filtered, oldest first."""

    def __init__(self, reader: AuditReader) -> None:
        self.reader = reader

    def records(
        self, query: AuditFilter, marker: Marker = Marker()
    ) -> Iterator[tuple[dict[str, Any], Marker]]:
        """Each matching record, with the marker to resume after it."""
        events = (
            (r, "e", r["notification_id"]) for r in self.reader.records(query, after=marker.events)
        )
        rejections = ((r, "r", n) for r, n in self._rejections(query, marker.rejections))
        position = marker
        for record, stream, n in heapq.merge(events, rejections, key=lambda t: t[0]["eventTime"]):
            if stream == "e":
                position = Marker(n, position.rejections)
            else:
                position = Marker(position.events, n)
            yield record, position

    def page(
        self, query: AuditFilter, limit: int, marker: Marker = Marker()
    ) -> tuple[list[dict[str, Any]], Marker | None]:
        """At most ``limit`` records, and the marker of the next page if it may have more."""
        found: list[dict[str, Any]] = []
        position = marker
        for record, position in self.records(query, marker):
            found.append(record)
            if len(found) >= limit:
                return found, position
        return found, None

    def _rejections(self, query: AuditFilter, after: int) -> Iterator[tuple[dict[str, Any], int]]:
        if query.resource_type is not None and query.resource_type not in {
            name for name, _ in _PATH_TYPES.values()
        }:
            return
        low, high = query.since or _MIN, query.until or _MAX
        datastore = self.reader.datastore
        while True:
            with datastore.get_connection() as conn, conn.cursor() as cur:
                rows = cur.execute(_SELECT, (after, low, high, PAGE), prepare=True).fetchall()
            if not rows:
                return
            for row in rows:
                record = rejection_cadf(row)
                if _matches(query, record):
                    yield record, int(row["id"])
            after = int(rows[-1]["id"])


def _matches(query: AuditFilter, record: dict[str, Any]) -> bool:
    if query.resource is not None and str(query.resource) not in record["target"]["id"]:
        return False
    plain = AuditFilter(
        project=query.project,
        user=query.user,
        resource_type=query.resource_type,
        action=query.action,
        since=query.since,
        until=query.until,
    )
    return plain.matches(record, None)


_MIN = "-infinity"
_MAX = "infinity"
