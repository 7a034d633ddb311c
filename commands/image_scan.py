"""Images stored before uploads were inspected: each inspected once, as its
upload would be now. Safe ones get their detected format and virtual size
recorded (ImageSafety.Inspected); unsafe ones are deactivated for good, with
the reason (ImageSafety.FoundUnsafe). `cloudledger image-scan` runs it."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from commands.app import CloudApp
from commands.image_inspection import Inspection, inspect_chunks
from commands.loading import load
from commands.ports import ImageStore
from commands.retry import retry_on_conflict
from domain.errors import NotFound
from domain.image import Image
from domain.image_safety import ImageDataRefused
from domain.values import Actor

SCANNED_STATUSES = ("active", "deactivated")  # the statuses of images with stored data


@dataclass(frozen=True)
class ScanOutcome:
    """What the scan found for one image, and did (or would do)."""

    image_id: str
    outcome: str  # "skipped", "safe", "unsafe"
    detail: str


def scan_image(
    app: CloudApp, store: ImageStore, image_id: UUID, actor: Actor, apply: bool
) -> ScanOutcome:
    """Inspect one stored image unless it was inspected already; with
    ``apply``, record what was found (nothing is appended without it)."""
    image = load(app, Image, image_id, f"Image {image_id}")
    if image.status not in SCANNED_STATUSES:
        return ScanOutcome(str(image_id), "skipped", f"no data ({image.status})")
    if image.detected_format is not None:
        return ScanOutcome(str(image_id), "skipped", f"inspected already ({image.detected_format})")
    try:
        found = inspect_chunks(store.open(str(image_id)), image.disk_format)
    except NotFound:
        return ScanOutcome(str(image_id), "skipped", "its data is missing from the store")
    except ImageDataRefused as exc:
        return _found_unsafe(app, image_id, exc, actor, apply)
    if apply:
        retry_on_conflict(lambda: _record(app, image_id, found, actor))
    size = "unknown" if found.virtual_size is None else f"{found.virtual_size} bytes"
    return ScanOutcome(str(image_id), "safe", f"{found.detected_format}, virtual size {size}")


def _found_unsafe(
    app: CloudApp, image_id: UUID, refused: ImageDataRefused, actor: Actor, apply: bool
) -> ScanOutcome:
    if apply:
        retry_on_conflict(lambda: _quarantine(app, image_id, refused, actor))
    return ScanOutcome(str(image_id), "unsafe", refused.reason)


def _quarantine(app: CloudApp, image_id: UUID, refused: ImageDataRefused, actor: Actor) -> None:
    image = load(app, Image, image_id, f"Image {image_id}")
    if image.unsafe_reason is None:
        image.quarantine(refused.reason, refused.detected_format, actor)
        app.save(image)


def _record(app: CloudApp, image_id: UUID, found: Inspection, actor: Actor) -> None:
    image = load(app, Image, image_id, f"Image {image_id}")
    if image.detected_format is None:
        image.record_inspection(found.detected_format, found.virtual_size, actor)
        app.save(image)
