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


def _live_ports(host: ComputeContext, instance: Instance) -> list[Port]:
    """The server's live ports, in the server's order (read through the
    compute side's ledger, whose cache the spawn's save reads again)."""
    ids = [UUID(p) for p in instance.port_ids]
    found = load_many(host.app, Port, ids)
    ports = (found.get(i) for i in ids)
    return [p for p in ports if p and not p.deleted and p.device_id == str(instance.id)]


def plug_server_ports(host: ComputeContext, instance: Instance) -> tuple[InterfaceSpec, ...] | None:
    """Every port of the server on this host's bridges, filtered; the
    guest's interfaces, one per port in the server's order. None when there
    is nothing to plug: no ports, or plugged already by the network queue
    (a server scheduled before hosts plugged at spawn)."""
    if not instance.port_ids or instance.ports_ready:
        return None
    network = network_of(host)
    if network is None:
        raise ShownToOwnerError(PLUG_FAILED, f"host {host.name} serves no network queue")
    ledger = Ledger(host.app)
    ports = _live_ports(host, instance)
    for port in ports:
        if port.status == "ACTIVE" and plugs_here(port, network):
            continue
        try:
            plug(network, ledger, port)
        except TransientDriverError:
            raise
        except DriverError as exc:
            raise ShownToOwnerError(PLUG_FAILED, f"port {port.id} on {host.name}: {exc}") from exc
    return tuple(InterfaceSpec(tap_name(str(p.id)), p.mac_address) for p in ports)


def unplug_server_ports(host: ComputeContext, instance: Instance) -> None:
    """The server's taps and filters here, gone (none made: nothing to do)."""
    network = network_of(host)
    if network is not None:
        for port_id in instance.port_ids:
            unplug(network, port_id)
