"""How the networking aggregates' value objects are stored in events: each
frozen dataclass as a JSON object of its fields, under a name of its own."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Generic, TypeVar

from eventsourcing.persistence import Transcoding

from domain.network_values import AllocationPool, FixedIp, HostRoute, SecurityGroupRule, Segment

V = TypeVar("V")


class DataclassAsDict(Transcoding, Generic[V]):
    """A frozen dataclass of plain fields, field by field."""

    def __init__(self, cls: type[V], name: str) -> None:
        self.type = cls
        self.name = name
        self._fields = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    def encode(self, obj: V) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self._fields}

    def decode(self, data: dict[str, Any]) -> V:
        return self.type(**data)  # type: ignore[no-any-return]


NETWORK_TRANSCODINGS: tuple[Transcoding, ...] = (
    DataclassAsDict(FixedIp, "fixed_ip"),
    DataclassAsDict(AllocationPool, "allocation_pool"),
    DataclassAsDict(HostRoute, "host_route"),
    DataclassAsDict(Segment, "segment"),
    DataclassAsDict(SecurityGroupRule, "security_group_rule"),
)
