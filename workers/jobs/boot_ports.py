"""A server's ports, plugged by its compute host as it spawns, as Nova's
os-vif plugs a guest's interfaces: the host's process serves its network
queue too (workers/bootstrap.py), so the spawn plugs through the host's
network drivers (the network's bridge and segment, the port's tap, its
filter) before the guest starts, and the spawn's save records the ports
bound here and ACTIVE with the server (commands/network_host.py). One job
and one save, with no hop through the network queue and the relay before
the guest can start.

Deleting the guest unplugs them here too: a spawn that a delete superseded
recorded no binding, so no network job would find its taps."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from commands.loading import load_many
from domain.instance import Instance
from domain.port import Port
from workers.drivers.domain_interfaces import InterfaceSpec
from workers.drivers.errors import DriverError, ShownToOwnerError, TransientDriverError
from workers.drivers.network_types import tap_name
from workers.jobs.network_bindings import Ledger
from workers.jobs.network_context import NetworkContext
from workers.jobs.network_ports import PLUG_FAILED, plug, plugs_here, unplug
from workers.runtime import ComputeContext


def network_of(host: ComputeContext) -> NetworkContext | None:
    """The network context of the host's process, if it serves one."""
    return next((c for c in host.neighbours if isinstance(c, NetworkContext)), None)


class BootPorts:
    """One spawn batch's ports: read in one query for all its servers, their
    networks and groups once (a Ledger), then plugged server by server."""

    def __init__(self, host: ComputeContext) -> None:
        self.host = host
        self.ledger = Ledger(host.app)
        self.ports: dict[UUID, Port] = {}

    def read(self, host: ComputeContext, instances: Sequence[Instance]) -> None:
        """The ports of the batch's servers that may need plugging (read
        through the compute side's ledger, whose cache the save reads again)."""
        wanted = [UUID(p) for i in instances if _needs_plugging(i) for p in i.port_ids]
        missing = [w for w in wanted if w not in self.ports]
        if missing:
            self.ports.update(load_many(host.app, Port, missing))

    def plug(self, instance: Instance) -> tuple[InterfaceSpec, ...] | None:
        """Every port of the server on this host's bridges, filtered; the
        guest's interfaces, one per port in the server's order. None when
        there is nothing to plug: no ports, or plugged already by the
        network queue (a server scheduled before hosts plugged at spawn)."""
        if not _needs_plugging(instance):
            return None
        network = network_of(self.host)
        if network is None:
            raise ShownToOwnerError(PLUG_FAILED, f"host {self.host.name} serves no network queue")
        self.read(self.host, [instance])  # a server the batch's read did not see
        ports = [self.ports.get(UUID(p)) for p in instance.port_ids]
        live = [p for p in ports if p and not p.deleted and p.device_id == str(instance.id)]
        for port in live:
            if port.status == "ACTIVE" and plugs_here(port, network):
                continue
            try:
                plug(network, self.ledger, port)
            except TransientDriverError:
                raise
            except DriverError as exc:
                details = f"port {port.id} on {self.host.name}: {exc}"
                raise ShownToOwnerError(PLUG_FAILED, details) from exc
        return tuple(InterfaceSpec(tap_name(str(p.id)), p.mac_address) for p in live)


def _needs_plugging(instance: Instance) -> bool:
    return bool(instance.port_ids) and not instance.ports_ready


def unplug_server_ports(host: ComputeContext, instance: Instance) -> None:
    """The server's taps and filters here, gone (none made: nothing to do)."""
    network = network_of(host)
    if network is not None:
        for port_id in instance.port_ids:
            unplug(network, port_id)
