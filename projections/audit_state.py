"""Time travel: every resource's state as it was at a moment, by replaying the
ledger's events up to it (the same events, applied the same way, as the
application's repository applies them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import InvalidInput
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
    the whole log is read, each resource's stream taken up to its first event
    stamped after ``at``."""
    wanted = project.replace("-", "").lower() if project else None
    aggregates: dict[UUID, Any] = {}
    last: dict[UUID, dict[str, Any]] = {}
    # A resource's state at ``at`` is its stream up to the first event stamped
    # later (a later version cannot apply without the one before it).
    cut: set[UUID] = set()
    for nid, event in reader.events(resource):
        oid = event.originator_id
        if oid in cut:
            continue
        if event.timestamp > at:
            cut.add(oid)
            continue
        if (
            oid not in aggregates
            and wanted is not None
            and wanted not in (_owner_of(event), oid.hex)
        ):
            cut.add(oid)
            continue
        before = aggregates.get(oid)
        if event.originator_version != (before.version + 1 if before else 1):
            raise InvalidInput(  # a stream with a hole: say where, do not guess
                f"event {nid} of resource {oid} does not follow the one before"
                f" (version {event.originator_version}); run `cloudledger audit verify`"
            )
        aggregates[oid] = event.mutate(before)
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
