"""Volume types an admin creates (the default one always exists)."""

from __future__ import annotations

from dataclasses import dataclass, field

from commands.app import CloudApp
from commands.receipt import Receipt
from domain.errors import Conflict
from domain.values import Actor
from domain.volume_type import DEFAULT_TYPE, VolumeType, type_id_for


@dataclass(frozen=True)
class CreateVolumeType:
    name: str
    description: str = ""
    is_public: bool = True
    extra_specs: dict[str, str] = field(default_factory=dict)


def create_volume_type(cmd: CreateVolumeType, app: CloudApp, actor: Actor) -> Receipt:
    """Names are unique: a type's id is made from its name, so two racing
    creates of one name conflict in the ledger and one of them fails."""
    VolumeType.validate(cmd.name, cmd.description, cmd.extra_specs)
    if cmd.name == DEFAULT_TYPE.name or type_id_for(cmd.name) in app.repository:
        raise Conflict(f"Volume Type {cmd.name} already exists.")
    vtype = VolumeType(
        name=cmd.name,
        description=cmd.description,
        is_public=cmd.is_public,
        extra_specs=dict(cmd.extra_specs),
        actor=actor,
    )
    return Receipt.of(vtype.id, app.save(vtype))
