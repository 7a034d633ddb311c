"""Volume types: what kind of volume a project asks for. One, Cinder's
``__DEFAULT__``, always exists without being created (``DEFAULT_TYPE``);
admins create others (``VolumeType``), e.g. one whose volumes may be
attached to several servers at once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput
from domain.values import Actor, natural_id, require_text
from domain.volume_values import DEFAULT_TYPE_NAME, MAX_DESCRIPTION

# Cinder's spelling of a boolean extra spec ("<is> True").
_TRUE = re.compile(r"(<is>\s*)?true", re.IGNORECASE)
MAX_TYPE_NAME = 255
MAX_EXTRA_SPECS = 64


def type_id_for(name: str) -> UUID:
    """A type's id, from its name (names are unique, as in Cinder)."""
    return natural_id("volume_type", name)


@dataclass(frozen=True)
class TypeInfo:
    """What a volume needs to know of its type."""

    id: str
    name: str
    description: str = ""
    is_public: bool = True
    extra_specs: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def multiattach(self) -> bool:
        return bool(_TRUE.fullmatch(self.extra_specs.get("multiattach", "").strip()))

    def usable_by(self, is_admin: bool) -> bool:
        return self.is_public or is_admin


DEFAULT_TYPE = TypeInfo(
    str(type_id_for(DEFAULT_TYPE_NAME)), DEFAULT_TYPE_NAME, "Default Volume Type"
)


class VolumeType(Aggregate):
    """A type an admin created."""

    class Created(Aggregate.Created):
        name: str
        description: str
        is_public: bool
        extra_specs: dict[str, str]
        actor: Actor

    @staticmethod
    def create_id(name: str, **_: object) -> UUID:
        return type_id_for(name)

    @event(Created)
    def __init__(
        self,
        name: str,
        description: str,
        is_public: bool,
        extra_specs: dict[str, str],
        actor: Actor,
    ) -> None:
        self.name, self.description, self.is_public = name, description, is_public
        self.extra_specs = dict(extra_specs)

    @staticmethod
    def validate(name: str, description: str, extra_specs: dict[str, str]) -> None:
        require_text(name, "Volume type name", MAX_TYPE_NAME)
        if name != name.strip():
            raise InvalidInput("Volume type name must not start or end with spaces")
        require_text(description, "Volume type description", MAX_DESCRIPTION, allow_empty=True)
        if len(extra_specs) > MAX_EXTRA_SPECS:
            raise InvalidInput(f"A volume type has at most {MAX_EXTRA_SPECS} extra specs")
        for key, value in extra_specs.items():
            require_text(key, "Extra spec key")
            require_text(value, f"Extra spec {key}", allow_empty=True)

    def info(self) -> TypeInfo:
        return TypeInfo(
            str(self.id), self.name, self.description, self.is_public, dict(self.extra_specs)
        )
