"""Value objects shared by several aggregates."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID, uuid5

# Deterministic ids (uuid5) let handlers find an aggregate by its natural key
# (a project's quota, a host's name) without a lookup table.
NAMESPACE = UUID("6f1c2a52-8a3e-4c47-9d1e-3f0b8f3c2a10")


def natural_id(kind: str, key: str) -> UUID:
    """The stable aggregate id for a natural key such as ("host", "compute-1")."""
    return uuid5(NAMESPACE, f"{kind}/{key}")


@dataclass(frozen=True)
class Actor:
    """Who caused an event: stored on every event, so the ledger is the audit."""

    user_id: str
    project_id: str
    roles: tuple[str, ...]
    request_id: str

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def as_service(self, service: str) -> Actor:
        """The same request, now carried on by a worker on the user's behalf."""
        return Actor(f"service:{service}", self.project_id, ("service",), self.request_id)


SYSTEM = Actor("system", "", ("admin",), "bootstrap")


@dataclass(frozen=True)
class FlavorSnapshot:
    """A flavor's sizes as they were when an instance was booted."""

    flavor_id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    ephemeral_gb: int
    swap_mb: int


class VmState(StrEnum):
    BUILDING = "building"
    ACTIVE = "active"
    STOPPED = "stopped"
    ERROR = "error"
    DELETED = "deleted"


class TaskState(StrEnum):
    SCHEDULING = "scheduling"
    SPAWNING = "spawning"
    POWERING_OFF = "powering-off"
    POWERING_ON = "powering-on"
    DELETING = "deleting"


class PowerState(StrEnum):
    """Nova's power states, by name; the API renders Nova's integer codes."""

    NOSTATE = "nostate"
    RUNNING = "running"
    SHUTDOWN = "shutdown"
