"""A host's periodic reconcile (and the one at its worker's start): what
the host has (taps, segments, filters; on the network node DHCP services
with their leases and routers) compared with what the ledger says, each
difference repaired and recorded as an event (domain/network_host.py).

The ledger's aggregates decide; the read models only name candidates (the
ports bound here, the routers, the networks with DHCP). A port bound here
that is still DOWN is left to its plug job, which is owed; what the
ledger says is plugged here and the host lacks is plugged again; what the
host has and the ledger does not place here goes. Runs as a job on the
host's own queue (workers/periodic.py), so it never races the host's
other jobs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from uuid import UUID

from commands.loading import load_many
from commands.network_host import Repair, record_repairs
from domain.network import Network
from domain.port import Port
from domain.router import Router
from workers.drivers.network_specs import DhcpState, RouterSpec, RouterState
from workers.jobs.network_bindings import (
    Ledger,
    dhcp_host_of,
    dhcp_port_of,
    dhcp_subnet_of,
    filter_of,
    router_spec_of,
    segment_of,
)
from workers.jobs.network_context import NetworkContext
from workers.jobs.network_node import converge_network, converge_router
from workers.jobs.network_ports import plug, plugs_here, refresh_sets, unplug
from workers.periodic import enqueue_every

log = logging.getLogger(__name__)

RECONCILE_FUNC = "workers.jobs.network_reconcile.reconcile_job"


def reconcile(context: NetworkContext) -> list[Repair]:
    """Compare, repair, record; the repairs made."""
    ledger = Ledger(context.app)
    repairs = _ports(context, ledger)
    if context.serves_network_node:
        repairs += _dhcp(context, ledger) + _routers(context, ledger)
    for repair in repairs:
        log.warning("network %s repaired %s %s: %s (%s)", context.name, *vars(repair).values())
    record_repairs(context.app, context.name, repairs)
    return repairs


def _ports(context: NetworkContext, ledger: Ledger) -> list[Repair]:
    drivers = context.drivers
    present = {p.port_id: p for p in drivers.ports.list_ports()}
    candidates = {UUID(p) for p in present} | set(context.inventory.ports_bound_to(context.name))
    ports = load_many(context.app, Port, candidates)
    repairs = []
    for port_id in sorted(present):
        port = ports.get(UUID(port_id))
        if _owned_by_a_service(port, context):
            continue  # the DHCP server's or a router's, made by their drivers
        if port is None or not plugs_here(port, context):
            unplug(context, port_id)
            repairs.append(Repair("port", port_id, "removed", "plugged, not bound here"))
    expected = [p for p in ports.values() if plugs_here(p, context) and p.status == "ACTIVE"]
    for port in expected:
        if str(port.id) not in present:
            plug(context, ledger, port)
            repairs.append(Repair("port", str(port.id), "made", "bound and ACTIVE, no tap"))
    repairs += _filters(context, ledger, expected)
    repairs += _segments(context, ledger)
    return repairs


def _owned_by_a_service(port: Port | None, context: NetworkContext) -> bool:
    return port is not None and port.device_owner.startswith("network:")


def _filters(context: NetworkContext, ledger: Ledger, expected: list[Port]) -> list[Repair]:
    firewall = context.drivers.firewall
    present = {f.port_id: f.digest for f in firewall.list_filters()}
    wanted = {str(p.id): filter_of(p, ledger) for p in expected}
    repairs = []
    for port_id, digest in sorted(present.items()):
        found = wanted.get(port_id)
        if found is None:
            firewall.remove_filter(port_id)
            repairs.append(Repair("filter", port_id, "removed", "no port to filter here"))
        elif found.digest != digest:
            firewall.ensure_filter(found)
            repairs.append(Repair("filter", port_id, "refreshed", "rules differ from the ledger's"))
    for port_id, found in sorted(wanted.items()):
        if found is not None and port_id not in present:
            firewall.ensure_filter(found)
            repairs.append(Repair("filter", port_id, "made", "no filter on a filtered port"))
    for address_set in refresh_sets(context, ledger):
        detail = "members differ from the ledger's"
        repairs.append(Repair("filter", address_set.name, "refreshed", detail))
    return repairs


def _segments(context: NetworkContext, ledger: Ledger) -> list[Repair]:
    repairs = []
    for state in context.drivers.ports.list_segments():
        network = ledger.find(Network, state.network_id)
        if network is None or network.segment.network_type != "vxlan":
            continue
        segment = segment_of(network, context.vteps)
        if state.vteps != segment.vteps - {context.vtep}:
            context.drivers.ports.update_segment(segment)
            repairs.append(Repair("segment", state.network_id, "refreshed", "flood list differs"))
    return repairs


def _dhcp(context: NetworkContext, ledger: Ledger) -> list[Repair]:
    assert context.drivers.dhcp is not None
    present = {s.network_id: s for s in context.drivers.dhcp.list_services()}
    networks = {UUID(n) for n in present} | set(context.inventory.dhcp_networks())
    ledger.preload(Network, networks)
    repairs = []
    for network_id in sorted(networks, key=str):
        network = ledger.find(Network, network_id)
        state = present.get(str(network_id))
        if network is None:
            context.drivers.dhcp.remove_service(str(network_id))
            repairs.append(Repair("dhcp", str(network_id), "removed", "no such network"))
            continue
        why = _dhcp_drift(context, ledger, network, state)
        if why:
            converge_network(context, ledger, network)
            action = "refreshed" if state is not None else "made"
            kind = "lease" if "lease" in why else "dhcp"
            repairs.append(Repair(kind, str(network_id), action, why))
    return repairs


def _dhcp_drift(
    context: NetworkContext, ledger: Ledger, network: Network, state: DhcpState | None
) -> str:
    """Why the network's DHCP service differs from the ledger's ("": it does not)."""
    subnet = None if network.deleted else dhcp_subnet_of(network, ledger)
    serving = subnet is not None and dhcp_port_of(network, ledger) is not None
    wanted = set()
    if serving and subnet is not None:
        ledger.preload(Port, network.ports)
        for port_id in network.ports:
            port = ledger.find(Port, port_id)
            host = None if port is None or port.deleted else dhcp_host_of(port, subnet)
            if host is not None:
                wanted.add(host)
    if state is None:
        return "no DHCP server for leases in the ledger" if wanted else ""
    if not wanted:
        return "a DHCP server with no lease in the ledger"
    if not state.running or not state.metadata:
        return "its server or metadata proxy is not running"
    if set(state.hosts) != wanted:
        return "its hosts differ from the ledger's"
    known = {h.mac: h.ip for h in wanted}
    if any(known.get(mac) != ip for mac, ip in state.leases.items()):
        return "a lease the ledger does not give"
    return ""


def _routers(context: NetworkContext, ledger: Ledger) -> list[Repair]:
    assert context.drivers.routers is not None
    present = {r.router_id: r for r in context.drivers.routers.list_routers()}
    ids = {UUID(r) for r in present} | set(context.inventory.routers())
    routers = load_many(context.app, Router, ids)
    repairs = []
    for router_id in sorted(ids, key=str):
        router, state = routers.get(router_id), present.get(str(router_id))
        if router is None:
            context.drivers.routers.remove_router(str(router_id))
            repairs.append(Repair("router", str(router_id), "removed", "no such router"))
            continue
        wanted = not router.deleted and bool(router.interfaces or router.gateway_port_id)
        if not wanted and state is None:
            continue
        if (
            wanted
            and state is not None
            and _same(router_spec_of(router, ledger, context.vteps), state)
        ):
            continue
        converge_router(context, ledger, router)
        action = "removed" if not wanted else ("refreshed" if state else "made")
        repairs.append(Repair("router", str(router_id), action, "differs from the ledger's"))
    return repairs


def _same(spec: RouterSpec, state: RouterState) -> bool:
    gateway = spec.gateway.port.port_id if spec.gateway else None
    return (
        {i.port.port_id for i in spec.interfaces} == set(state.interface_ports)
        and gateway == state.gateway_port
        and set(spec.floating_ips) == set(state.floating_ips)
    )


def reconcile_job(context: NetworkContext) -> list[dict[str, str]]:
    """RQ's entry point (enqueued by the host's own worker, periodically)."""
    return [vars(repair) for repair in reconcile(context)]


def reconcile_periodically(
    redis_url: str, queue: str, interval: float, stop: threading.Event
) -> Callable[[], None]:
    job_id = f"network-reconcile-{queue}"
    return enqueue_every(redis_url, queue, interval, RECONCILE_FUNC, (), job_id, stop)
