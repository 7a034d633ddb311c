"""A cloud whose every worker runs in this process on real PostgreSQL and
Redis: the relay, the scheduler, two compute hosts (fake hypervisors), their
network workers and the network node's (fake network drivers, or whatever
a test gives), seeded with `cloudledger run`'s networks (`private`,
`public`, `router1`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from helpers import (
    Cloud,
    RelayRig,
    build_cloud,
    build_relay,
    hosts_projector,
    rows,
    run_burst,
    store_fetcher,
)

from commands.identity import CreateProject
from commands.network_services import NetworkCommands
from commands.servers import BootServer
from domain.network import Network
from domain.port import Port
from domain.values import SYSTEM, Actor, NetworkRequest
from ops.seed import seed_networks
from projections.bootstrap import Projector
from projections.hosts import HostsView
from workers import runtime
from workers.drivers.disks import DiskStore
from workers.drivers.fake_disks import FakeDiskStore
from workers.drivers.fake_hypervisor import FakeHypervisor
from workers.drivers.fake_network import fake_network_drivers
from workers.drivers.image_cache import DirectoryImageCache
from workers.drivers.netns_topology import NetnsTopology
from workers.drivers.network import NetworkDrivers
from workers.jobs.network_context import NETWORK_NODE, Inventory, NetworkContext, NoInventory
from workers.resources.network import NETWORK
from workers.resources.network import NETWORK_NODE as NODE_QUEUE
from workers.routes import COMPUTE, SCHEDULER

HOSTS = ("compute-1", "compute-2")
TOPOLOGY = NetnsTopology("clplant", HOSTS)


@dataclass
class NetworkPlant:
    cloud: Cloud
    relay: RelayRig
    hosts_view: HostsView
    projector: Projector
    redis_url: str
    computes: dict[str, runtime.ComputeContext]
    networks: dict[str, NetworkContext]  # by host, the node's as NETWORK_NODE
    net: NetworkCommands
    admin: Actor
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def scheduler(self) -> runtime.SchedulerContext:
        return runtime.SchedulerContext(self.cloud.app, self.hosts_view)

    def queues(self) -> list[tuple[str, object]]:
        found: list[tuple[str, object]] = [(SCHEDULER.queue(), self.scheduler)]
        found += [(NODE_QUEUE.queue(), self.networks[NETWORK_NODE])]
        for host in HOSTS:
            found += [(NETWORK.queue(host), self.networks[host])]
            found += [(COMPUTE.queue(host), self.computes[host])]
        return found

    def pump(self, skip: tuple[str, ...] = ()) -> None:
        """Relay and run every queue's jobs (but ``skip``'s) until quiet."""
        for _ in range(40):
            self.projector.catch_up()
            self.relay.catch_up()
            ran = False
            for queue, context in self.queues():
                if queue not in skip:
                    ran = run_burst(self.redis_url, [queue], context) or ran
            if not ran:
                self.relay.relay.reconcile()  # job-completed items leave relay_pending
                return
        raise AssertionError("jobs kept coming")

    def boot(self, name: str, network: str = "private", actor: Actor | None = None) -> UUID:
        request = NetworkRequest(network_id=self.ids[network])
        cmd = BootServer(name, "1", self.cloud.image_id, (request,))
        return self.cloud.services.boot_server(cmd, actor or self.cloud.member).id

    def ports_of(self, server: UUID) -> list[Port]:
        instance = self.cloud.instance(server)
        return [self.cloud.app.repository.get(UUID(p)) for p in instance.port_ids]

    def pending(self) -> list[str]:
        return [r["kind"] for r in rows(self.cloud.database_url, "SELECT kind FROM relay_pending")]


def _compute(cloud: Cloud, host: str, disks: DiskStore, folder: Path) -> runtime.ComputeContext:
    return runtime.ComputeContext(
        cloud.app, host, FakeHypervisor(), disks, store_fetcher(cloud), DirectoryImageCache(folder)
    )


def network_context(
    cloud: Cloud,
    host: str | None,
    drivers: NetworkDrivers | None = None,
    inventory: Inventory | None = None,
) -> NetworkContext:
    vtep = TOPOLOGY.underlay_ip(host)
    made = drivers or fake_network_drivers(vtep, network_node=host is None)
    return NetworkContext(
        cloud.app, host or NETWORK_NODE, made, TOPOLOGY.vteps(), vtep, inventory or NoInventory()
    )


@contextmanager
def network_plant(
    database_url: str,
    redis_url: str,
    folder: Path,
    networks: dict[str, NetworkContext] | None = None,
) -> Iterator[NetworkPlant]:
    cloud = build_cloud(database_url, folder / "images")
    cloud.services.create_project(CreateProject("admin"), SYSTEM)
    seed_networks(cloud.services)
    for host in HOSTS:
        cloud.register_host(host, vcpus=8, ram_mb=8192)
    hosts_view, projector = hosts_projector(cloud)
    relay = build_relay(cloud.app, database_url, redis_url)
    found = networks or {}
    contexts = {h: found.get(h) or network_context(cloud, h) for h in HOSTS}
    # Each host's process serves its network queue too: the spawn plugs.
    computes = {
        h: _compute(cloud, h, FakeDiskStore(folder / h), folder / h / "cache").with_neighbours(
            (contexts[h],)
        )
        for h in HOSTS
    }
    contexts[NETWORK_NODE] = found.get(NETWORK_NODE) or network_context(cloud, None)
    admin = Actor("admin", cloud.member.project_id, ("admin",), "req-admin")
    plant = NetworkPlant(
        cloud, relay, hosts_view, projector, redis_url, computes, contexts,
        NetworkCommands(cloud.app), admin,
    )  # fmt: skip
    for name in ("private", "public"):
        plant.ids[name] = _network_id(cloud, name)
    try:
        plant.pump()
        yield plant
    finally:
        relay.relay.datastore.close()
        hosts_view.datastore.close()
        cloud.app.close()


def _network_id(cloud: Cloud, name: str) -> str:
    """A seeded network's id, from the ledger (no read model needed)."""
    found = rows(
        cloud.database_url,
        "SELECT originator_id FROM cloudledger_events WHERE topic LIKE %s",
        ("domain.network:Network.Created",),
    )
    for row in found:
        network = cloud.app.repository.get(row["originator_id"])
        if isinstance(network, Network) and network.name == name:
            return str(network.id)
    raise AssertionError(f"no network {name}")
