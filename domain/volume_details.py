"""What users change of a volume without a job: its name and description,
metadata, and the bootable and read-only flags. Its events live on
``VolumeDetails``, a base class of Volume."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.values import Actor, require_metadata
from domain.volume_values import require_label


class VolumeDetails(Aggregate):
    """Name, description, metadata, bootable, read-only."""

    name: str
    description: str
    metadata: dict[str, str]
    bootable: bool
    readonly: bool

    def update(self, name: str, description: str, actor: Actor) -> None:
        require_label(name, description, "Volume")
        if (name, description) != (self.name, self.description):
            self._updated(name, description, actor)

    class Updated(Aggregate.Event):
        name: str
        description: str
        actor: Actor

    @event(Updated)
    def _updated(self, name: str, description: str, actor: Actor) -> None:
        self.name, self.description = name, description

    def set_metadata(self, metadata: dict[str, str], actor: Actor) -> None:
        """The whole new metadata (the caller merged or replaced)."""
        require_metadata(metadata)
        if metadata != self.metadata:
            self._metadata_changed(dict(metadata), actor)

    class MetadataChanged(Aggregate.Event):
        metadata: dict[str, str]
        actor: Actor

    @event(MetadataChanged)
    def _metadata_changed(self, metadata: dict[str, str], actor: Actor) -> None:
        self.metadata = metadata

    def set_bootable(self, bootable: bool, actor: Actor) -> None:
        if bootable != self.bootable:
            self._bootable_set(bootable, actor)

    class BootableSet(Aggregate.Event):
        bootable: bool
        actor: Actor

    @event(BootableSet)
    def _bootable_set(self, bootable: bool, actor: Actor) -> None:
        self.bootable = bootable

    def set_readonly(self, readonly: bool, actor: Actor) -> None:
        """Cinder's os-update_readonly_flag: attachments from now on are read-only."""
        if readonly != self.readonly:
            self._readonly_set(readonly, actor)

    class ReadonlySet(Aggregate.Event):
        readonly: bool
        actor: Actor

    @event(ReadonlySet)
    def _readonly_set(self, readonly: bool, actor: Actor) -> None:
        self.readonly = readonly
