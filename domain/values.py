"""Value objects shared by several aggregates."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID, uuid5

from domain.errors import InvalidInput, QuotaExceeded

# Deterministic ids (uuid5) let handlers find an aggregate by its natural key
# (a project's quota, a host's name) without a lookup table.
NAMESPACE = UUID("6f1c2a52-8a3e-4c47-9d1e-3f0b8f3c2a10")


def natural_id(kind: str, key: str) -> UUID:
    """The stable aggregate id for a natural key such as ("host", "compute-1")."""
    return uuid5(NAMESPACE, f"{kind}/{key}")


INT32_MAX = 2**31 - 1  # Nova's and Glance's limit for sizes and quota limits

# Control characters (NUL included) and lone surrogates: PostgreSQL cannot
# store them, and names must print. A regex, not a loop: values are long.
_UNSTORABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def require_text(value: str, what: str, max_length: int = 255, allow_empty: bool = False) -> None:
    """Names are printable text that PostgreSQL can store: no control
    characters (NUL included) and no lone surrogates from a JSON body."""
    if not allow_empty and not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > max_length:
        raise InvalidInput(f"{what} must be at most {max_length} characters")
    if _UNSTORABLE.search(value):
        raise InvalidInput(f"{what} must not contain control or surrogate characters")


MAX_METADATA_ITEMS = 128  # Nova's default metadata_items quota
MAX_METADATA_TEXT = 255  # Nova's limit for a metadata key and for a value


def require_metadata(metadata: Mapping[str, str]) -> None:
    """Server metadata within Nova's limits: 128 items, keys and values of up
    to 255 printable characters (a key not empty)."""
    if len(metadata) > MAX_METADATA_ITEMS:
        raise QuotaExceeded("metadata_items", len(metadata), 0, MAX_METADATA_ITEMS)
    for key, value in metadata.items():
        require_text(key, "Metadata key", max_length=MAX_METADATA_TEXT)
        require_text(value, f"Metadata value of {key}", MAX_METADATA_TEXT, allow_empty=True)


def require_int32(value: int, what: str, minimum: int = 0) -> None:
    if not minimum <= value <= INT32_MAX:
        raise InvalidInput(f"{what} must be between {minimum} and {INT32_MAX}")


@dataclass(frozen=True)
class Actor:
    """Who caused an event: stored on every event, so the ledger is the audit.

    An actor that a token speaks for also says where its roles were granted
    (api/context.py): on its project (of ``project_domain_id``, perhaps the
    cloud's admin project), on a domain (``domain_id``, no project), or on
    the whole cloud (``system_scope`` "all"). ``cloud_admin`` is policy's
    verdict on that (the rule ``context_is_admin``), so a domain's or a
    project's admin is not the cloud's. Actors the cloud makes itself
    (seeding, ops tools) and those stored before scopes leave it None: then
    the admin role alone decides, as it always did for them."""

    user_id: str
    project_id: str
    roles: tuple[str, ...]
    request_id: str
    project_domain_id: str = ""
    domain_id: str = ""
    system_scope: str = ""
    is_admin_project: bool = False
    cloud_admin: bool | None = None

    @property
    def is_admin(self) -> bool:
        """May act on the whole cloud, beyond its own project (Nova's is_admin)."""
        if self.cloud_admin is None:
            return "admin" in self.roles
        return self.cloud_admin

    def as_service(self, service: str) -> Actor:
        """The same request, now carried on by a worker on the user's behalf."""
        return Actor(f"service:{service}", self.project_id, ("service",), self.request_id)


SYSTEM = Actor("system", "", ("admin",), "bootstrap")


@dataclass(frozen=True)
class FlavorSnapshot:
    """A flavor's sizes (and extra specs) as they were when an instance was booted."""

    flavor_id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    ephemeral_gb: int
    swap_mb: int
    # Added for microversion 2.47's embedded flavor. Events stored before it
    # decode with {} (nothing was recorded); not hashed, as a dict cannot be.
    extra_specs: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class NetworkRequest:
    """One network a server asks for at boot, as Nova's ``networks`` list
    names them: a network (its ``uuid``), a port, a fixed IP, a device tag;
    or ``auto_allocate``, a network made for the project (the API's "auto")."""

    network_id: str = ""
    port_id: str = ""
    fixed_ip: str = ""
    tag: str = ""
    auto_allocate: bool = False


def network_requests(spec: str) -> list[NetworkRequest]:
    """The API's "none" (no network) or "auto" as the requests they stand for.
    A list of networks waits for networking to land (the API refuses it)."""
    if spec == "none":
        return []
    if spec == "auto":
        return [NetworkRequest(auto_allocate=True)]
    raise InvalidInput(f"Invalid networks {spec[:40]!r}: 'none' or 'auto'")


class VmState(StrEnum):
    BUILDING = "building"
    ACTIVE = "active"
    STOPPED = "stopped"
    PAUSED = "paused"
    SUSPENDED = "suspended"
    RESIZED = "resized"  # resized, waiting for confirmResize or revertResize
    ERROR = "error"
    DELETED = "deleted"


class TaskState(StrEnum):
    SCHEDULING = "scheduling"
    SPAWNING = "spawning"
    POWERING_OFF = "powering-off"
    POWERING_ON = "powering-on"
    REBOOTING = "rebooting"
    REBOOTING_HARD = "rebooting_hard"
    PAUSING = "pausing"
    UNPAUSING = "unpausing"
    SUSPENDING = "suspending"
    RESUMING = "resuming"
    IMAGE_SNAPSHOT = "image_snapshot"
    RESIZE_PREP = "resize_prep"
    RESIZE_MIGRATING = "resize_migrating"
    RESIZE_MIGRATED = "resize_migrated"
    RESIZE_REVERTING = "resize_reverting"
    REBUILDING = "rebuilding"
    DELETING = "deleting"


class PowerState(StrEnum):
    """Nova's power states, by name; the API renders Nova's integer codes."""

    NOSTATE = "nostate"
    RUNNING = "running"
    PAUSED = "paused"
    SHUTDOWN = "shutdown"
    SUSPENDED = "suspended"
