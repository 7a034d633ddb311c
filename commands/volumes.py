"""Creating volumes: blank, or from an image, a snapshot or another volume.
Each reserves on its project's quota and is requested in one atomic save
with it, many of one project's creates in one save (as boots are)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from commands.app import CloudApp
from commands.loading import load, load_many, parse_uuid
from commands.receipt import Receipt
from domain.errors import DomainError, InvalidInput, NotFound, QuotaExceeded
from domain.image import Image
from domain.quota import UNLIMITED, Quota
from domain.values import Actor
from domain.volume import Volume
from domain.volume_snapshot import VolumeSnapshot
from domain.volume_type import DEFAULT_TYPE, TypeInfo, VolumeType, type_id_for
from domain.volume_values import SnapshotStatus, VolumeStatus, volume_quota

GIB = 1 << 30
# Cinder's storage_availability_zone: every volume host serves this one.
VOLUME_ZONE = "nova"
# The image fields Cinder copies into volume_image_metadata.
_IMAGE_FIELDS = ("container_format", "disk_format", "min_disk", "min_ram", "size", "checksum")


@dataclass(frozen=True)
class CreateVolume:
    size: int | None  # GiB; None: the source snapshot's or volume's size
    name: str = ""
    description: str = ""
    availability_zone: str = ""
    volume_type: str = ""  # a type's name or id; "" for the default
    image_id: str = ""
    snapshot_id: str = ""
    source_volid: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


def visible_volume(app: CloudApp, volume_id: str, actor: Actor) -> Volume:
    """The volume if the caller may see it; NotFound alike for an unknown id,
    another project's volume and a deleted one."""
    label = f"Volume {volume_id}"
    volume = load(app, Volume, parse_uuid(volume_id, label), label)
    if not volume.visible_to(actor):
        raise NotFound(f"{label} could not be found.")
    return volume


def visible_snapshot(app: CloudApp, snapshot_id: str, actor: Actor) -> VolumeSnapshot:
    label = f"Snapshot {snapshot_id}"
    snapshot = load(app, VolumeSnapshot, parse_uuid(snapshot_id, label), label)
    if not snapshot.visible_to(actor):
        raise NotFound(f"{label} could not be found.")
    return snapshot


def volume_type(app: CloudApp, asked: str, actor: Actor) -> TypeInfo:
    """The type named (by name or id) if the caller may use it, the default
    for ""; NotFound otherwise (a private type is an admin's)."""
    if asked in ("", DEFAULT_TYPE.name, DEFAULT_TYPE.id):
        return DEFAULT_TYPE
    candidates = [type_id_for(asked)]
    with contextlib.suppress(ValueError):
        candidates.append(UUID(asked))
    for type_id in candidates:
        with contextlib.suppress(NotFound):
            found = load(app, VolumeType, type_id, "Volume type").info()
            if found.usable_by(actor.is_admin):
                return found
    raise NotFound(f"Volume type with name or id {asked} could not be found.")


def create_volume(cmd: CreateVolume, app: CloudApp, actor: Actor) -> Receipt:
    (outcome,) = create_volumes([(cmd, actor)], app)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def create_volumes(
    requests: Sequence[tuple[CreateVolume, Actor]], app: CloudApp
) -> list[Receipt | DomainError]:
    """Creates of ONE project: every one that passes goes into one save with
    the project's quota; a refused one gets its error and takes nothing."""
    if not requests:
        return []
    (project_id,) = {actor.project_id for _, actor in requests}
    _preload(app, requests)
    # Read last: the shorter the time between reading the quota and saving,
    # the rarer a concurrent reservation makes this save lose its race.
    quota = load(app, Quota, Quota.create_id(project_id), "Quota")
    outcomes: list[Volume | DomainError] = []
    for cmd, actor in requests:
        try:
            outcomes.append(requested_volume(cmd, app, actor, quota))
        except DomainError as exc:
            outcomes.append(exc)
    volumes = [o for o in outcomes if isinstance(o, Volume)]
    recordings = app.save(quota, *volumes) if volumes else []
    return [o if isinstance(o, DomainError) else Receipt.of(o.id, recordings) for o in outcomes]


def _preload(app: CloudApp, requests: Sequence[tuple[CreateVolume, Actor]]) -> None:
    """Warm the repository's cache with every source the creates name, in one query."""
    ids = []
    for cmd, _ in requests:
        for given in (cmd.image_id, cmd.snapshot_id, cmd.source_volid):
            with contextlib.suppress(ValueError):
                ids.append(UUID(given))
    if ids:
        load_many(app, Volume, ids)


def requested_volume(cmd: CreateVolume, app: CloudApp, actor: Actor, quota: Quota) -> Volume:
    """A new Volume with its quota reserved on ``quota`` (the caller saves both)."""
    sources = [s for s in (cmd.image_id, cmd.snapshot_id, cmd.source_volid) if s]
    if len(sources) > 1:
        raise InvalidInput(
            "Invalid input received: only one of imageRef, snapshot_id, source_volid"
        )
    kind = "image" if cmd.image_id else "snapshot" if cmd.snapshot_id else "volume"
    kind = kind if sources else ""
    size = cmd.size
    image_metadata: dict[str, str] = {}
    bootable = False
    kind_type: TypeInfo | None = None
    if cmd.snapshot_id:
        snapshot = visible_snapshot(app, cmd.snapshot_id, actor)
        if snapshot.status != SnapshotStatus.AVAILABLE:
            raise InvalidInput(
                f"Invalid snapshot: Originating snapshot status must be one of 'available' "
                f"values (it is {snapshot.status})."
            )
        size = snapshot.size if size is None else size
        _at_least(size, snapshot.size, "snapshot")
        kind_type = volume_type(app, snapshot.volume_type_name, actor)
        image_metadata, bootable = _inherited(app, snapshot.volume_id)
    elif cmd.source_volid:
        source = visible_volume(app, cmd.source_volid, actor)
        if source.status not in (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE):
            raise InvalidInput(
                f"Invalid volume: Source volume status must be available or in-use "
                f"(it is {source.status})."
            )
        size = source.size if size is None else size
        _at_least(size, source.size, "source volume")
        kind_type = volume_type(app, source.volume_type_id, actor)
        image_metadata, bootable = dict(source.image_metadata), source.bootable
    elif cmd.image_id:
        image = usable_image(app, cmd.image_id, actor)
        if size is None:
            raise InvalidInput("Invalid input received: size is required for a volume from image")
        needed = max(math.ceil((image.__dict__.get("size") or 0) / GIB), image.min_disk)
        _at_least(size, needed, "image")
        image_metadata, bootable = image_metadata_of(image), True
    if size is None:
        raise InvalidInput("Invalid input received: size must be given")
    Volume.validate(cmd.name, cmd.description, size, cmd.metadata, kind)
    chosen = volume_type(app, cmd.volume_type, actor) if cmd.volume_type else None
    if kind_type is not None and chosen is not None and chosen.id != kind_type.id:
        raise InvalidInput(f"Invalid input received: volume type must be that of the {kind}")
    vtype = chosen or kind_type or DEFAULT_TYPE
    zone = cmd.availability_zone or VOLUME_ZONE
    if zone != VOLUME_ZONE:
        raise InvalidInput(f"Invalid input received: Availability zone '{zone}' is invalid.")
    per_volume = quota.limit_of("per_volume_gigabytes")
    if per_volume != UNLIMITED and size > per_volume:
        raise QuotaExceeded("per_volume_gigabytes", size, 0, per_volume)
    volume = Volume(
        project_id=actor.project_id,
        user_id=actor.user_id,
        name=cmd.name,
        description=cmd.description,
        size=size,
        availability_zone=zone,
        volume_type_id=vtype.id,
        volume_type_name=vtype.name,
        multiattach=vtype.multiattach,
        source_kind=kind,
        source_id=sources[0] if sources else "",
        metadata=dict(cmd.metadata),
        image_metadata=image_metadata,
        bootable=bootable,
        actor=actor,
    )
    quota.reserve(str(volume.id), volume_quota(size, vtype.name), actor)
    return volume


def _at_least(size: int, needed: int, what: str) -> None:
    if size < needed:
        raise InvalidInput(
            f"Invalid input received: Volume size '{size}'GB cannot be smaller than "
            f"the {what} size {needed}GB."
        )


def _inherited(app: CloudApp, volume_id: str) -> tuple[dict[str, str], bool]:
    """What a volume made from a snapshot keeps of the snapshot's volume."""
    try:
        origin = load(app, Volume, UUID(volume_id), "Volume")
    except (NotFound, ValueError):
        return {}, False
    return dict(origin.image_metadata), origin.bootable


def usable_image(app: CloudApp, image_id: str, actor: Actor) -> Image:
    """An active image the caller may see; 400 for any other id (Cinder's
    "Invalid image identifier")."""
    invalid = InvalidInput(
        f"Invalid image identifier or unable to access requested image: {image_id[:64]}"
    )
    try:
        image = load(app, Image, parse_uuid(image_id, "Image"), "Image")
    except NotFound:
        raise invalid from None
    if not image.visible_to(actor.project_id, actor.is_admin) or image.status != "active":
        raise invalid
    return image


def image_metadata_of(image: Image) -> dict[str, str]:
    """Cinder's volume_image_metadata: the image's id, name, formats and
    sizes, and its properties, as text."""
    found: dict[str, str] = {"image_id": str(image.id), "image_name": image.name or ""}
    for name in _IMAGE_FIELDS:
        value = image.__dict__.get(name)
        if value is not None:
            found[name] = str(value)
    for key, value in image.properties.items():
        found.setdefault(str(key), value if isinstance(value, str) else str(value))
    return found
