"""HostAggregate: a named group of compute hosts with metadata; its
``availability_zone`` metadata is the zone of the hosts in it."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput, NotFound
from domain.values import Actor, require_text

ZONE_KEY = "availability_zone"


class HostAggregate(Aggregate):
    class Created(Aggregate.Created):
        name: str
        metadata: dict[str, str]
        actor: Actor

    @event(Created)
    def __init__(self, name: str, metadata: dict[str, str], actor: Actor) -> None:
        self.name, self.metadata = name, dict(metadata)
        self.hosts: list[str] = []
        self.deleted = False

    @property
    def zone(self) -> str | None:
        return self.metadata.get(ZONE_KEY)

    def rename(self, name: str, actor: Actor) -> None:
        require_text(name, "Aggregate name")
        if name != self.name:
            self._renamed(name, actor)

    class Renamed(Aggregate.Event):
        name: str
        actor: Actor

    @event(Renamed)
    def _renamed(self, name: str, actor: Actor) -> None:
        self.name = name

    def set_metadata(self, changes: dict[str, str | None], actor: Actor) -> None:
        """Set keys, or remove those given as None (Nova's ``set_metadata``)."""
        for key, value in changes.items():
            require_text(key, "Metadata key")
            if value is not None:
                require_text(value, f"Metadata value of {key}", allow_empty=True)
        metadata = {**self.metadata, **{k: v for k, v in changes.items() if v is not None}}
        for key in [k for k, v in changes.items() if v is None]:
            metadata.pop(key, None)
        if ZONE_KEY in changes and changes[ZONE_KEY] == "":
            raise InvalidInput("An availability zone must have a name")
        if metadata != self.metadata:
            self._metadata_set(metadata, actor)

    class MetadataSet(Aggregate.Event):
        metadata: dict[str, str]  # all of it, after the change
        actor: Actor

    @event(MetadataSet)
    def _metadata_set(self, metadata: dict[str, str], actor: Actor) -> None:
        self.metadata = metadata

    def add_host(self, host: str, actor: Actor) -> None:
        if host in self.hosts:
            raise Conflict(f"Cannot add host {host} to aggregate {self.name}: host exists")
        self._host_added(host, actor)

    class HostAdded(Aggregate.Event):
        host: str
        actor: Actor

    @event(HostAdded)
    def _host_added(self, host: str, actor: Actor) -> None:
        self.hosts.append(host)

    def remove_host(self, host: str, actor: Actor) -> None:
        if host not in self.hosts:
            raise NotFound(f"Cannot remove host {host} from aggregate {self.name}: not found")
        self._host_removed(host, actor)

    class HostRemoved(Aggregate.Event):
        host: str
        actor: Actor

    @event(HostRemoved)
    def _host_removed(self, host: str, actor: Actor) -> None:
        self.hosts.remove(host)

    def delete(self, actor: Actor) -> None:
        if self.hosts:
            raise InvalidInput(f"Aggregate {self.name} still has hosts; remove them first.")
        self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted = True
