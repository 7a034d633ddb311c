"""What the Networking API's routes share between requests: the commands,
the batchers that gather concurrent creates of ports and floating IPs per
network (one save serves a batch), the metadata service's secret, and the
projects whose default security group is known to exist."""

from __future__ import annotations

from dataclasses import dataclass, field

from api.batching import AsyncBatcher
from commands.app import CloudApp
from commands.network_services import (
    FloatingIpRequest,
    Made,
    NetworkCommands,
    PortRequest,
)


@dataclass
class NetworkApiState:
    commands: NetworkCommands
    ports: AsyncBatcher[PortRequest, Made]
    floating_ips: AsyncBatcher[FloatingIpRequest, Made]
    metadata_secret: bytes
    # Projects whose default group exists: a listing need not ask the ledger.
    default_groups: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, app: CloudApp, metadata_secret: bytes) -> NetworkApiState:
        network = NetworkCommands(app)
        return cls(
            commands=network,
            ports=AsyncBatcher(network.create_ports),
            floating_ips=AsyncBatcher(network.create_floating_ips),
            metadata_secret=metadata_secret,
        )
