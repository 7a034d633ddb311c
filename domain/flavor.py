"""The Flavor aggregate: a named size; deleting only marks it inactive."""

from __future__ import annotations

import re
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput, NotFound
from domain.values import Actor, FlavorSnapshot, natural_id, require_int32, require_text

# Nova's rule for extra spec keys: 1 to 255 of these characters.
_SPEC_KEY = re.compile(r"^[\w.:\- ]{1,255}$", re.ASCII)
MAX_EXTRA_SPECS = 128


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
        self.extra_specs: dict[str, str] = {}
        self.access: list[str] = []  # projects that may use a private flavor

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
            dict(self.extra_specs),
        )

    def deactivate(self, actor: Actor) -> None:
        if self.active:
            self._deactivated(actor)

    class Deactivated(Aggregate.Event):
        actor: Actor

    @event(Deactivated)
    def _deactivated(self, actor: Actor) -> None:
        self.active = False

    # Extra specs (os-extra_specs) --------------------------------------------

    def set_extra_specs(self, specs: dict[str, str], actor: Actor) -> None:
        """Add or change specs; values are strings of up to 255 characters."""
        for key, value in specs.items():
            if not isinstance(key, str) or not _SPEC_KEY.match(key):
                raise InvalidInput(
                    f"Invalid extra spec key {key!r}: 1 to 255 letters, digits, '_', '-', "
                    "'.', ':' or spaces"
                )
            if not isinstance(value, str):
                raise InvalidInput(f"The value of extra spec {key} must be a string")
            require_text(value, f"The value of extra spec {key}", 255, allow_empty=True)
        changed = {k: v for k, v in specs.items() if self.extra_specs.get(k) != v}
        if len({**self.extra_specs, **changed}) > MAX_EXTRA_SPECS:
            raise InvalidInput(f"A flavor has at most {MAX_EXTRA_SPECS} extra specs")
        if changed:
            self._extra_specs_set(changed, actor)

    class ExtraSpecsSet(Aggregate.Event):
        specs: dict[str, str]
        actor: Actor

    @event(ExtraSpecsSet)
    def _extra_specs_set(self, specs: dict[str, str], actor: Actor) -> None:
        self.extra_specs.update(specs)

    def delete_extra_spec(self, key: str, actor: Actor) -> None:
        if key not in self.extra_specs:
            raise NotFound(f"Flavor {self.flavor_id} has no extra specs with key {key}.")
        self._extra_spec_deleted(key, actor)

    class ExtraSpecDeleted(Aggregate.Event):
        key: str
        actor: Actor

    @event(ExtraSpecDeleted)
    def _extra_spec_deleted(self, key: str, actor: Actor) -> None:
        del self.extra_specs[key]

    # Project access to a private flavor (os-flavor-access) -----------------

    def usable_by(self, project_id: str) -> bool:
        return self.active and (self.is_public or project_id in self.access)

    def add_access(self, project_id: str, actor: Actor) -> None:
        if self.is_public:
            raise Conflict("Can not add access to a public flavor.")
        if project_id in self.access:
            raise Conflict(
                f"Flavor access already exists for flavor {self.flavor_id} "
                f"and project {project_id} combination."
            )
        self._access_added(project_id, actor)

    class AccessAdded(Aggregate.Event):
        project_id: str
        actor: Actor

    @event(AccessAdded)
    def _access_added(self, project_id: str, actor: Actor) -> None:
        self.access.append(project_id)

    def remove_access(self, project_id: str, actor: Actor) -> None:
        if project_id not in self.access:
            raise NotFound(
                f"Flavor access not found for {self.flavor_id} / {project_id} combination."
            )
        self._access_removed(project_id, actor)

    class AccessRemoved(Aggregate.Event):
        project_id: str
        actor: Actor

    @event(AccessRemoved)
    def _access_removed(self, project_id: str, actor: Actor) -> None:
        self.access.remove(project_id)
