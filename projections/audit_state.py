"""Time travel: every resource's state as it was at a moment, by replaying the
ledger's events up to it (the same events, applied the same way, as the
application's repository applies them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from projections.audit import OWNER_FIELDS, AuditReader, cadf

# Attribute names whose values are never shown (password hashes and the like).
SECRET_MARKERS = ("password", "secret", "token", "private")


def _owner_of(created: Any) -> str | None:
    for name in OWNER_FIELDS:
        value = getattr(created, name, None)
        if isinstance(value, str) and value:
            return value.replace("-", "").lower()
    return None


def states_as_of(
    reader: AuditReader, at: datetime, *, project: str | None = None, resource: UUID | None = None
) -> list[dict[str, Any]]:
    """Each resource (of the project, or the one resource) that existed at
    ``at``, with its attributes then. Events are stamped by their writers
    before the append, so a later notification id may carry an earlier time:
    the whole log is read and each event judged by its own time."""
    wanted = project.replace("-", "").lower() if project else None
    aggregates: dict[UUID, Any] = {}
    last: dict[UUID, dict[str, Any]] = {}
    skipped: set[UUID] = set()
    for nid, event in reader.events(resource):
        oid = event.originator_id
        if oid in skipped or event.timestamp > at:
            continue
        if oid not in aggregates:
            if wanted is not None and wanted not in (_owner_of(event), oid.hex):
                skipped.add(oid)
                continue
            aggregates[oid] = event.mutate(None)
        else:
            aggregates[oid] = event.mutate(aggregates[oid])
        last[oid] = cadf(nid, event)
    return [_shown(aggregates[oid], last[oid]) for oid in aggregates if aggregates[oid]]


def _shown(aggregate: Any, last: dict[str, Any]) -> dict[str, Any]:
    attributes = {
        name: "<redacted>" if any(m in name for m in SECRET_MARKERS) else value
        for name, value in vars(aggregate).items()
        if not name.startswith("_")
    }
    return {
        "id": str(aggregate.id),
        "type": last["resource_type"],
        "version": aggregate.version,
        "last_event": last["event"],
        "last_changed": last["eventTime"],
        "last_changed_by": last["initiator"]["id"],
        "attributes": attributes,
    }
