"""The Flavor aggregate: a named size; deleting only marks it inactive."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput
from domain.values import Actor, FlavorSnapshot, natural_id


class Flavor(Aggregate):
    """A size of virtual machine that instances are booted with."""

    class Created(Aggregate.Created):
        flavor_id: str
        name: str
        vcpus: int
        ram_mb: int
        disk_gb: int
        ephemeral_gb: int
        swap_mb: int
        is_public: bool
        actor: Actor

    @staticmethod
    def create_id(flavor_id: str, **_: object) -> UUID:
        return natural_id("flavor", flavor_id)

    @event(Created)
    def __init__(
        self,
        flavor_id: str,
        name: str,
        vcpus: int,
        ram_mb: int,
        disk_gb: int,
        ephemeral_gb: int,
        swap_mb: int,
        is_public: bool,
        actor: Actor,
    ) -> None:
        self.flavor_id, self.name = flavor_id, name
        self.vcpus, self.ram_mb, self.disk_gb = vcpus, ram_mb, disk_gb
        self.ephemeral_gb, self.swap_mb = ephemeral_gb, swap_mb
        self.is_public = is_public
        self.active = True

    @staticmethod
    def validate(
        name: str, vcpus: int, ram_mb: int, disk_gb: int, ephemeral_gb: int = 0, swap_mb: int = 0
    ) -> None:
        if not name.strip() or len(name) > 255:
            raise InvalidInput("Flavor name must be 1-255 characters")
        if vcpus < 1 or ram_mb < 1 or disk_gb < 0:
            raise InvalidInput("Flavor needs vcpus >= 1, ram >= 1 MB and disk >= 0")
        if ephemeral_gb < 0 or swap_mb < 0:
            raise InvalidInput("Flavor ephemeral disk and swap must be >= 0")

    def snapshot(self) -> FlavorSnapshot:
        return FlavorSnapshot(
            self.flavor_id,
            self.name,
            self.vcpus,
            self.ram_mb,
            self.disk_gb,
            self.ephemeral_gb,
            self.swap_mb,
        )

    def deactivate(self, actor: Actor) -> None:
        if self.active:
            self._deactivated(actor)

    class Deactivated(Aggregate.Event):
        actor: Actor

    @event(Deactivated)
    def _deactivated(self, actor: Actor) -> None:
        self.active = False
