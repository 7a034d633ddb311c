"""What each billable resource meters, declared once: the meters (what a
unit is and which of a resource's quantities it counts), and a registry from
event topics to the changes those events make to a resource's metered
stretches. The billing replay (domain/metering.py) and the
os-simple-tenant-usage projection (projections/usage.py, the instances'
rules) follow only this registry, so a resource added later (volumes,
floating IPs) declares its rules here and neither needs a change."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.image import Image
from domain.instance import Instance
from domain.power import POWER_ACTIONS
from domain.resize import Resizing
from domain.values import FlavorSnapshot

GIB = 1024**3
SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class Meter:
    """A billed unit: ``quantity`` (a resource's figure, e.g. its vCPUs) times
    the seconds it was held, divided by ``divisor`` (e.g. 3600 for hours)."""

    name: str
    unit: str
    quantity: str
    divisor: int


METERS: tuple[Meter, ...] = (
    Meter("vcpu_hours", "vCPU-hour", "vcpus", SECONDS_PER_HOUR),
    Meter("ram_mb_hours", "MB-hour", "ram_mb", SECONDS_PER_HOUR),
    Meter("root_gb_hours", "GB-hour", "root_gb", SECONDS_PER_HOUR),
    Meter("ephemeral_gb_hours", "GB-hour", "ephemeral_gb", SECONDS_PER_HOUR),
    # Glance sizes are bytes; a GB here is a GiB, as Nova's local_gb is.
    Meter("image_gb_hours", "GB-hour", "image_bytes", SECONDS_PER_HOUR * GIB),
)


# -- the changes an event makes ------------------------------------------------


@dataclass(frozen=True)
class Opened:
    """A resource exists: who pays for it and what its stretches will meter.
    A second Opened for the same resource changes nothing."""

    resource_id: UUID
    kind: str  # "instance", "image", ...
    project_id: str
    name: str
    product: str  # what a rate card prices it by: the flavor's name, "image"
    quantities: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Redescribed:
    """Later stretches of the resource meter this (None: unchanged)."""

    resource_id: UUID
    project_id: str | None = None
    name: str | None = None
    product: str | None = None
    quantities: Mapping[str, int] | None = None


@dataclass(frozen=True)
class Began:
    """The open stretch ends at ``at`` and one in ``state`` begins. With
    ``only_if_open``, nothing begins unless a stretch was open (a failed
    build never ran, so it uses nothing)."""

    resource_id: UUID
    state: str
    at: datetime
    only_if_open: bool = False


@dataclass(frozen=True)
class Ended:
    """The resource is gone: its open stretch ends at ``at``."""

    resource_id: UUID
    at: datetime


MeterChange = Opened | Redescribed | Began | Ended
Rule = Callable[[Any], Sequence[MeterChange]]
RULES: dict[str, Rule] = {}
KINDS: dict[str, str] = {}  # topic -> the kind of resource its rule changes

R = TypeVar("R", bound=Rule)


def rule(kind: str, *event_classes: type) -> Callable[[R], R]:
    """Register what events of these classes change (resources of ``kind``)."""

    def register(fn: R) -> R:
        for cls in event_classes:
            topic = get_topic(cls)
            assert topic not in RULES, f"two rules for {topic}"
            RULES[topic], KINDS[topic] = fn, kind
        return fn

    return register


def topics_for(kind: str) -> tuple[str, ...]:
    """The topics whose rules change resources of this kind."""
    return tuple(topic for topic, k in KINDS.items() if k == kind)


def changes_of(event: Any, kind: str | None = None) -> Sequence[MeterChange]:
    """The meter changes an event makes (none for events no rule names),
    or only those to resources of ``kind``."""
    topic = get_topic(type(event))
    found = RULES.get(topic)
    if found is None or (kind is not None and KINDS[topic] != kind):
        return ()
    return found(event)


# -- instances: as os-simple-tenant-usage splits them (projections/usage.py) ---


def flavor_quantities(flavor: FlavorSnapshot) -> dict[str, int]:
    return {
        "vcpus": flavor.vcpus,
        "ram_mb": flavor.ram_mb,
        "root_gb": flavor.disk_gb,
        "ephemeral_gb": flavor.ephemeral_gb,
    }


def _id(event: Any) -> UUID:
    resource_id: UUID = event.originator_id
    return resource_id


@rule("instance", Instance.Requested)
def _requested(e: Instance.Requested) -> Sequence[MeterChange]:
    quantities = flavor_quantities(e.flavor)
    return (Opened(_id(e), "instance", e.project_id, e.name, e.flavor.name, quantities),)


@rule("instance", Instance.Updated)
def _renamed(e: Instance.Updated) -> Sequence[MeterChange]:
    return (Redescribed(_id(e), name=e.name),)


@rule("instance", Instance.Spawned)
def _spawned(e: Instance.Spawned) -> Sequence[MeterChange]:
    return (Began(_id(e), "active", e.launched_at),)


@rule("instance", Instance.Stopped)
def _stopped(e: Instance.Stopped) -> Sequence[MeterChange]:
    return (Began(_id(e), "stopped", e.timestamp),)


@rule("instance", Instance.Started)
def _started(e: Instance.Started) -> Sequence[MeterChange]:
    return (Began(_id(e), "active", e.timestamp),)


@rule("instance", Instance.PowerActionDone)
def _powered(e: Instance.PowerActionDone) -> Sequence[MeterChange]:
    return (Began(_id(e), POWER_ACTIONS[e.action].ends_in.value, e.timestamp),)


@rule("instance", Instance.Failed)
def _failed(e: Instance.Failed) -> Sequence[MeterChange]:
    return (Began(_id(e), "error", e.timestamp, only_if_open=True),)


@rule("instance", Instance.Deleted)
def _deleted(e: Instance.Deleted) -> Sequence[MeterChange]:
    return (Ended(_id(e), e.timestamp),)


# A resize meters the new flavor from the moment the destination runs it,
# and a revert the old one again from its end.


@rule("instance", Resizing.ResizeFinished)
def _resized(e: Resizing.ResizeFinished) -> Sequence[MeterChange]:
    new = Redescribed(_id(e), product=e.flavor.name, quantities=flavor_quantities(e.flavor))
    return (new, Began(_id(e), "resized", e.timestamp))


@rule("instance", Resizing.ResizeConfirmed)
def _confirmed(e: Resizing.ResizeConfirmed) -> Sequence[MeterChange]:
    return (Began(_id(e), "active" if e.running else "stopped", e.timestamp),)


@rule("instance", Resizing.ResizeReverted)
def _reverted(e: Resizing.ResizeReverted) -> Sequence[MeterChange]:
    old = Redescribed(_id(e), product=e.flavor.name, quantities=flavor_quantities(e.flavor))
    return (old, Began(_id(e), "active" if e.running else "stopped", e.timestamp))


# -- images: stored bytes, billed to the owner from upload to deletion ---------


@rule("image", Image.Created)
def _image_created(e: Image.Created) -> Sequence[MeterChange]:
    return (Opened(_id(e), "image", e.owner, e.name, "image", {"image_bytes": 0}),)


@rule("image", Image.Uploaded)
def _image_uploaded(e: Image.Uploaded) -> Sequence[MeterChange]:
    stored = Redescribed(_id(e), quantities={"image_bytes": e.size})
    return (stored, Began(_id(e), "active", e.timestamp))


@rule("image", Image.Updated)
def _image_updated(e: Image.Updated) -> Sequence[MeterChange]:
    """A new owner pays from the change on; a new name is only shown."""
    changes: list[MeterChange] = []
    if "owner" in e.core or "name" in e.core:
        changes.append(Redescribed(_id(e), project_id=e.core.get("owner"), name=e.core.get("name")))
    if "owner" in e.core:
        changes.append(Began(_id(e), "active", e.timestamp, only_if_open=True))
    return changes


@rule("image", Image.Deleted)
def _image_deleted(e: Image.Deleted) -> Sequence[MeterChange]:
    return (Ended(_id(e), e.timestamp),)
