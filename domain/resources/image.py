"""The Image (its imports included) on the domain side: its aggregate, how
the audit trail names it, and its stored bytes, billed to the owner from
upload to deletion."""

from __future__ import annotations

from collections.abc import Sequence

from domain.declarations import AuditType, DomainResource, Metering
from domain.image import Image
from domain.meter_changes import (
    GIB,
    SECONDS_PER_HOUR,
    Began,
    Ended,
    Meter,
    MeterChange,
    Opened,
    Redescribed,
    resource_id,
)


def _created(e: Image.Created) -> Sequence[MeterChange]:
    return (Opened(resource_id(e), "image", e.owner, e.name, "image", {"image_bytes": 0}),)


def _uploaded(e: Image.Uploaded) -> Sequence[MeterChange]:
    stored = Redescribed(resource_id(e), quantities={"image_bytes": e.size})
    return (stored, Began(resource_id(e), "active", e.timestamp))


def _updated(e: Image.Updated) -> Sequence[MeterChange]:
    """A new owner pays from the change on; a new name is only shown."""
    changes: list[MeterChange] = []
    if "owner" in e.core or "name" in e.core:
        owner, name = e.core.get("owner"), e.core.get("name")
        changes.append(Redescribed(resource_id(e), project_id=owner, name=name))
    if "owner" in e.core:
        changes.append(Began(resource_id(e), "active", e.timestamp, only_if_open=True))
    return changes


def _deleted(e: Image.Deleted) -> Sequence[MeterChange]:
    return (Ended(resource_id(e), e.timestamp),)


RESOURCE = DomainResource(
    "image",
    aggregates=(Image,),
    audit=(AuditType("image", "image", aggregates=("Image",), paths=("images",)),),
    metering=Metering(
        "image",
        # Glance sizes are bytes; a GB here is a GiB, as Nova's local_gb is.
        meters=(Meter("image_gb_hours", "GB-hour", "image_bytes", SECONDS_PER_HOUR * GIB),),
        rules={
            Image.Created: _created,
            Image.Uploaded: _uploaded,
            Image.Updated: _updated,
            Image.Deleted: _deleted,
        },
    ),
)
