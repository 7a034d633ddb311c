"""The Flavor aggregate: a named size; deleting only marks it inactive."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.values import Actor, FlavorSnapshot, natural_id, require_int32, require_text


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
        require_text(name, "Flavor name")
        require_int32(vcpus, "Flavor vcpus", 1)
        require_int32(ram_mb, "Flavor ram", 1)
        require_int32(disk_gb, "Flavor disk")
        require_int32(ephemeral_gb, "Flavor ephemeral disk")
        require_int32(swap_mb, "Flavor swap")

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
