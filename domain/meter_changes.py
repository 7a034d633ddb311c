"""What billing meters and the changes events make to a resource's metered
stretches: the words of each resource's metering (domain/declarations.py),
which domain/meters.py gathers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

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


def flavor_quantities(flavor: FlavorSnapshot) -> dict[str, int]:
    return {
        "vcpus": flavor.vcpus,
        "ram_mb": flavor.ram_mb,
        "root_gb": flavor.disk_gb,
        "ephemeral_gb": flavor.ephemeral_gb,
    }


def resource_id(event: Any) -> UUID:
    found: UUID = event.originator_id
    return found
