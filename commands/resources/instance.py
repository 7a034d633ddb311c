"""The Instance's command side: the flavor it was booted with and the
networks it asked for, as its events store them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from eventsourcing.persistence import Transcoding

from commands.declarations import CommandResource
from domain.values import FlavorSnapshot, NetworkRequest


class FlavorSnapshotAsDict(Transcoding):
    type = FlavorSnapshot
    name = "flavor_snapshot"

    def encode(self, obj: FlavorSnapshot) -> dict[str, Any]:
        return asdict(obj)

    def decode(self, data: dict[str, Any]) -> FlavorSnapshot:
        return FlavorSnapshot(**data)


class NetworkRequestAsDict(Transcoding):
    type = NetworkRequest
    name = "network_request"

    def encode(self, obj: NetworkRequest) -> dict[str, Any]:
        return asdict(obj)

    def decode(self, data: dict[str, Any]) -> NetworkRequest:
        return NetworkRequest(**data)


RESOURCE = CommandResource(
    "instance", transcodings=(FlavorSnapshotAsDict(), NetworkRequestAsDict())
)
