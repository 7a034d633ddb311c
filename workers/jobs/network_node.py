"""The network node's jobs, on the harness (workers/harness.py):

- each port's static lease in its network's DHCP server (made with the
  port, changed with its addresses, dropped with it); the server, with the
  network's metadata proxy beside it, comes with the network's first lease
  and goes with its last or with the network's DHCP port, which is
  recorded ACTIVE on the network node once its server runs;
- a subnet whose options changed: its network's service converged whole;
- each router as a whole (its legs, gateway, SNAT and floating IPs' NAT),
  its ports recorded ACTIVE here and its floating IPs' status reported."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from uuid import UUID

from commands import network_host
from commands.app import CloudApp
from commands.loading import load_many
from domain.network import Network
from domain.network_values import OWNER_DHCP
from domain.port import Port
from domain.router import Router
from domain.subnet import Subnet
from workers.drivers.network import DhcpDriver, RouterDriver
from workers.harness import Fault, Outcomes, Step, run_step
from workers.jobs.network_bindings import (
    Ledger,
    dhcp_host_of,
    dhcp_port_of,
    dhcp_service_of,
    dhcp_subnet_of,
    router_spec_of,
)
from workers.jobs.network_context import NetworkContext

log = logging.getLogger(__name__)


def _dhcp(context: NetworkContext) -> DhcpDriver:
    if context.drivers.dhcp is None:
        raise TypeError(f"{context.name} serves no DHCP: a network node's job reached it")
    return context.drivers.dhcp


def _routers(context: NetworkContext) -> RouterDriver:
    if context.drivers.routers is None:
        raise TypeError(f"{context.name} serves no routers: a network node's job reached it")
    return context.drivers.routers


def _logged(what: str) -> Fault:
    """A lease that cannot be written is logged (the port stays as it was;
    the reconcile tries again): nothing else depends on it."""

    def fault(app: CloudApp, item: UUID, message: str, details: str) -> None:
        log.error("%s %s: %s %s", what, item, message, details)

    return fault


def sync_leases(context: NetworkContext, ids: Sequence[UUID]) -> Outcomes:
    """Each port's lease as the ledger has it now."""
    ledger = Ledger(context.app)
    serving: set[UUID] = set()

    def drive(node: NetworkContext, port: Port) -> None:
        dhcp_port = _lease(node, ledger, port)
        if dhcp_port is not None:
            serving.add(dhcp_port)

    def record(node: NetworkContext, ports: Sequence[Port]) -> Collection[UUID]:
        network_host.record_service_plugged(node.app, node.name, serving)
        return [p.id for p in ports]

    step: Step[NetworkContext, Port] = Step(
        Port, lambda port, node: True, drive, record, "leased", what="DHCP", fault=_logged("port")
    )
    return run_step(step, context, ids)


def _lease(context: NetworkContext, ledger: Ledger, port: Port) -> UUID | None:
    """Converge one port's lease; the DHCP port that now serves it, if any."""
    dhcp = _dhcp(context)
    network = ledger.find(Network, port.network_id)
    gone = network is None or network.deleted
    if port.device_owner == OWNER_DHCP:
        if port.deleted or gone:
            dhcp.remove_service(port.network_id)
        return None  # its server comes with the network's first lease
    if port.deleted or gone or network is None:
        dhcp.remove_host(port.network_id, str(port.id))
        return None
    subnet = dhcp_subnet_of(network, ledger)
    dhcp_port = dhcp_port_of(network, ledger)
    host = dhcp_host_of(port, subnet) if subnet is not None else None
    service = None
    if subnet is not None and dhcp_port is not None:
        service = dhcp_service_of(network, subnet, dhcp_port, context.vteps)
    if host is None or service is None or dhcp_port is None:
        dhcp.remove_host(port.network_id, str(port.id))
        return None
    dhcp.ensure_host(service, host)
    return dhcp_port.id


def converge_network(context: NetworkContext, ledger: Ledger, network: Network) -> UUID | None:
    """The network's DHCP service with exactly its live ports' leases (none:
    no service); the DHCP port that serves them, if any."""
    dhcp = _dhcp(context)
    subnet = None if network.deleted else dhcp_subnet_of(network, ledger)
    dhcp_port = None if network.deleted else dhcp_port_of(network, ledger)
    service = None
    if subnet is not None and dhcp_port is not None:
        service = dhcp_service_of(network, subnet, dhcp_port, context.vteps)
    if service is None or subnet is None or dhcp_port is None:
        dhcp.remove_service(str(network.id))
        return None
    ledger.preload(Port, network.ports)
    ports = [ledger.find(Port, p) for p in network.ports]
    hosts = {dhcp_host_of(p, subnet) for p in ports if p is not None and not p.deleted}
    leases = frozenset(h for h in hosts if h is not None)
    dhcp.ensure_service(service, leases)
    return dhcp_port.id if leases else None


def sync_subnets(context: NetworkContext, ids: Sequence[UUID]) -> Outcomes:
    """A subnet's options changed (gateway, name servers, DHCP on or off)."""
    ledger = Ledger(context.app)
    serving: set[UUID] = set()

    def drive(node: NetworkContext, subnet: Subnet) -> None:
        network = ledger.find(Network, subnet.network_id)
        if network is not None:
            found = converge_network(node, ledger, network)
            if found is not None:
                serving.add(found)

    def record(node: NetworkContext, subnets: Sequence[Subnet]) -> Collection[UUID]:
        network_host.record_service_plugged(node.app, node.name, serving)
        return [s.id for s in subnets]

    step: Step[NetworkContext, Subnet] = Step(
        Subnet, lambda s, node: True, drive, record, "served", what="DHCP", fault=_logged("subnet")
    )
    return run_step(step, context, ids)


def converge_router(context: NetworkContext, ledger: Ledger, router: Router) -> bool:
    """The router as the ledger has it; whether it exists on the node now."""
    if router.deleted or not (router.interfaces or router.gateway_port_id):
        _routers(context).remove_router(str(router.id))
        return False
    _routers(context).ensure_router(router_spec_of(router, ledger, context.vteps))
    return True


def sync_routers(context: NetworkContext, ids: Sequence[UUID]) -> Outcomes:
    ledger = Ledger(context.app)

    def record(node: NetworkContext, routers: Sequence[Router]) -> Collection[UUID]:
        record_routers(node, routers)
        return [r.id for r in routers]

    step: Step[NetworkContext, Router] = Step(
        Router,
        lambda router, node: True,
        lambda node, router: _converge(node, ledger, router),
        record,
        "routed",
        what="Router",
        fault=_router_failed,
    )
    return run_step(step, context, ids)


def _converge(context: NetworkContext, ledger: Ledger, router: Router) -> None:
    converge_router(context, ledger, router)


def record_routers(context: NetworkContext, routers: Sequence[Router]) -> None:
    """Their legs and gateways ACTIVE on the network node, and their
    floating IPs' NAT in place."""
    live = [r for r in routers if not r.deleted]
    ports = {UUID(p) for r in live for p in [*r.interfaces, r.gateway_port_id] if p}
    network_host.record_service_plugged(context.app, context.name, ports)
    active = {UUID(f): "ACTIVE" for r in live for f in r.floating_ips}
    if active:
        network_host.report_floating_ips(context.app, active)


def _router_failed(app: CloudApp, router_id: UUID, message: str, details: str) -> None:
    """The node cannot make the router: its floating IPs are reported ERROR."""
    log.error("router %s: %s %s", router_id, message, details)
    router = load_many(app, Router, [router_id]).get(router_id)
    if router is not None and router.floating_ips:
        network_host.report_floating_ips(app, {UUID(f): "ERROR" for f in router.floating_ips})
