"""The network roles: a context per compute host (its ports' taps, segments
and filters; served by that host's compute process, workers/bootstrap.py)
and a worker for the network node (DHCP with the metadata proxies, routers
with their NAT). Each drives in-memory fakes (the test-driver
path) or, with ``CLOUDLEDGER_NETWORK_DRIVER=linux``, the Linux drivers in
its host's namespace of this machine (workers/drivers/netns_topology.py,
made by `cloudledger run`). Before taking jobs, each compares its host
with the ledger and repairs the drift, and does so again periodically."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from commands.bootstrap import Settings, build_app, eventsourcing_env
from commands.metadata_secret import metadata_secret
from projections.bootstrap import build_view
from projections.network_ports import PortsView, dhcp_networks, ports_bound_to
from projections.network_routers import RoutersView, router_ids
from workers.drivers.dnsmasq import MetadataUpstream
from workers.drivers.fake_network import fake_network_drivers
from workers.drivers.netns_topology import NetnsTopology, stack_prefix
from workers.drivers.network import NetworkDrivers
from workers.drivers.runner import SubprocessRunner
from workers.jobs import network_reconcile
from workers.jobs.network_context import NETWORK_NODE, NetworkContext
from workers.resources.network import NETWORK
from workers.resources.network import NETWORK_NODE as NODE_QUEUE

log = logging.getLogger(__name__)


def build_network_host(
    settings: Settings, host_name: str | None, environ: Mapping[str, str]
) -> NetworkContext:
    """A compute host's network context (its compute process serves its queue)."""
    del environ
    if not host_name:
        raise SystemExit("a network worker serves one host: give --host")
    return _start(settings, host_name, _drivers(settings, host_name), NETWORK.queue(host_name))


def build_network_node(
    settings: Settings, host_name: str | None, environ: Mapping[str, str]
) -> NetworkContext:
    """The network node's worker (one for the cloud)."""
    del host_name, environ
    return _start(settings, NETWORK_NODE, _drivers(settings, None), NODE_QUEUE.queue())


def topology(settings: Settings, host: str | None = None) -> NetnsTopology:
    """This stack's hosts as namespaces of this machine (their names and
    underlay addresses also serve the fake drivers)."""
    hosts = settings.network_hosts or ((host,) if host else ())
    if host is not None and host not in hosts:
        raise SystemExit(f"host {host} is not one of CLOUDLEDGER_NETWORK_HOSTS {hosts}")
    return NetnsTopology(stack_prefix(str(settings.state_dir)), tuple(hosts))


def host_namespace(settings: Settings, host: str) -> str | None:
    """Where a compute host's guests start: its namespace with the real
    network driver, none (this process's own) otherwise."""
    if settings.network_driver != "linux":
        return None
    return topology(settings, host).host_namespace(host)


@dataclass(frozen=True)
class _Made:
    drivers: NetworkDrivers
    vteps: frozenset[str]
    vtep: str


def _drivers(settings: Settings, host: str | None) -> _Made:
    found = topology(settings, host)
    vtep = found.underlay_ip(host)
    if settings.network_driver != "linux":
        fakes = fake_network_drivers(vtep, network_node=host is None)
        return _Made(fakes, found.vteps(), vtep)
    upstream = MetadataUpstream(f"{settings.api_url}/metadata", metadata_secret(settings.state_dir))
    drivers = found.drivers(host, SubprocessRunner(), settings.state_dir / "network", upstream)
    return _Made(drivers, found.vteps(), vtep)


class ReadModels:
    """The reconcile's candidates, from the ports and routers read models."""

    def __init__(self, settings: Settings) -> None:
        env = eventsourcing_env(settings.database_url, pool_size=1, limits=settings.database_limits)
        self._ports = build_view(PortsView, env)
        self._routers = build_view(RoutersView, env)

    def ports_bound_to(self, host: str) -> list[UUID]:
        return [row["id"] for row in self._ports.fetch_all(ports_bound_to(host))]

    def routers(self) -> list[UUID]:
        return [row["id"] for row in self._routers.fetch_all(router_ids())]

    def dhcp_networks(self) -> list[UUID]:
        return [row["id"] for row in self._ports.fetch_all(dhcp_networks())]


def _start(settings: Settings, name: str, made: _Made, queue: str) -> NetworkContext:
    app = build_app(settings.database_url, pool_size=2, limits=settings.database_limits)
    context = NetworkContext(
        app, name, made.drivers, made.vteps, made.vtep, inventory=ReadModels(settings)
    )
    try:
        repaired = network_reconcile.reconcile(context)
        log.info("network %s: %d repairs at start", name, len(repaired))
    except Exception:  # the periodic one tries again; jobs must not wait for it
        log.exception("network %s: the reconcile at start failed", name)
    loop = network_reconcile.reconcile_periodically(
        settings.redis_url, queue, settings.network_reconcile_interval_s, threading.Event()
    )
    threading.Thread(target=loop, name="network-reconcile", daemon=True).start()
    return context
