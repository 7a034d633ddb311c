"""The network node's jobs and every host's reconcile on the pipeline (real
PostgreSQL, Redis, relay; fake drivers): the seeded router's legs are
ACTIVE on the node, a floating IP's NAT follows its association with its
status reported, and a reconcile repairs what was changed behind the
ledger's back, each repair an event."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from network_plant import HOSTS, NetworkPlant, network_plant

from commands.loading import load_many
from commands.network_floating_ips import FloatingIpSpec
from domain.floating_ip import FloatingIP
from domain.network_host import NetworkHost
from domain.port import Port
from domain.router import Router
from domain.values import VmState
from workers.drivers.fake_network import FakeDhcp, FakePorts, FakeRouters
from workers.drivers.network_types import PortBinding, Segment
from workers.jobs import network_reconcile
from workers.jobs.network_context import NETWORK_NODE, NetworkContext


@pytest.fixture
def plant(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[NetworkPlant]:
    with network_plant(database_url, redis_url, tmp_path) as built:
        yield built


def _routers(plant: NetworkPlant) -> FakeRouters:
    found = plant.networks[NETWORK_NODE].drivers.routers
    assert isinstance(found, FakeRouters)
    return found


def _router(plant: NetworkPlant) -> Router:
    (state,) = _routers(plant).list_routers()
    router = plant.cloud.app.repository.get(UUID(state.router_id))
    assert isinstance(router, Router)
    return router


def test_the_seeded_router_runs_on_the_network_node_with_its_legs_active(
    plant: NetworkPlant,
) -> None:
    router = _router(plant)
    (state,) = _routers(plant).list_routers()
    assert state.interface_ports == frozenset(router.interfaces)
    assert state.gateway_port == router.gateway_port_id
    legs = load_many(
        plant.cloud.app, Port, [UUID(p) for p in [*router.interfaces, router.gateway_port_id]]
    )
    assert {(p.status, p.host) for p in legs.values()} == {("ACTIVE", NETWORK_NODE)}


def _server(plant: NetworkPlant) -> tuple[UUID, Port]:
    server = plant.boot("fip-vm")
    plant.pump()
    assert plant.cloud.instance(server).vm_state == VmState.ACTIVE
    (port,) = plant.ports_of(server)
    return server, port


def test_a_floating_ip_is_natted_while_associated_and_its_status_says_so(
    plant: NetworkPlant,
) -> None:
    _, port = _server(plant)
    (made,) = plant.net.create_floating_ips(
        [(FloatingIpSpec(plant.ids["public"]), plant.cloud.member)]
    )
    assert not isinstance(made, BaseException)
    (fip_id,) = made.ids
    plant.net.update_floating_ip(str(fip_id), str(port.id), "", None, plant.cloud.member)
    plant.pump()

    floating = plant.cloud.app.repository.get(fip_id)
    assert isinstance(floating, FloatingIP) and floating.status == "ACTIVE"
    (state,) = _routers(plant).list_routers()
    assert {(f.floating_ip, f.fixed_ip) for f in state.floating_ips} == {
        (floating.floating_ip_address, port.fixed_ips[0].ip_address)
    }

    plant.net.update_floating_ip(str(fip_id), None, "", None, plant.cloud.member)
    plant.pump()
    (state,) = _routers(plant).list_routers()
    assert state.floating_ips == frozenset()
    assert plant.cloud.app.repository.get(fip_id).status == "DOWN"


class _Known:
    """The read models' candidates, as a test names them."""

    def __init__(self, ports: list[UUID]) -> None:
        self._ports = ports

    def ports_bound_to(self, host: str) -> list[UUID]:
        return self._ports

    def routers(self) -> list[UUID]:
        return []

    def dhcp_networks(self) -> list[UUID]:
        return []


def _repairs(plant: NetworkPlant, host: str) -> list[tuple[str, str, str]]:
    agent = load_many(plant.cloud.app, NetworkHost, [NetworkHost.create_id(host)])
    if not agent:
        return []
    events = plant.cloud.app.repository.event_store.get(NetworkHost.create_id(host))
    return [(e.kind, e.item, e.action) for e in events if isinstance(e, NetworkHost.Repaired)]


def test_a_reconcile_repairs_what_changed_behind_the_ledger_s_back_each_repair_an_event(
    plant: NetworkPlant,
) -> None:
    server, port = _server(plant)
    host = plant.cloud.instance(server).host
    assert host in HOSTS
    context = plant.networks[host]
    ports = context.drivers.ports
    assert isinstance(ports, FakePorts)
    ports.remove_port(str(port.id))  # someone deleted its tap
    stranger = str(uuid4())
    segment = Segment(str(uuid4()), "vxlan", 4242, vteps=context.vteps)
    ports.ensure_port(PortBinding(stranger, segment, "fa:16:3e:00:00:99"))  # and left another
    checked = NetworkContext(
        context.app, context.name, context.drivers, context.vteps, context.vtep, _Known([port.id])
    )

    repaired = network_reconcile.reconcile(checked)

    assert {(r.kind, r.item, r.action) for r in repaired} >= {
        ("port", str(port.id), "made"),
        ("port", stranger, "removed"),
    }
    assert [p.port_id for p in ports.list_ports()] == [str(port.id)]
    recorded = _repairs(plant, host)
    assert ("port", str(port.id), "made") in recorded and ("port", stranger, "removed") in recorded
    assert network_reconcile.reconcile(checked) == []  # converged: nothing more to do


def test_a_dead_dhcp_server_is_started_again_by_the_node_s_reconcile(
    plant: NetworkPlant,
) -> None:
    _server(plant)
    node = plant.networks[NETWORK_NODE]
    dhcp = node.drivers.dhcp
    assert isinstance(dhcp, FakeDhcp)
    (service,) = dhcp.list_services()
    dhcp.kill_server(service.network_id)

    repaired = network_reconcile.reconcile(node)

    assert [(r.kind, r.item) for r in repaired] == [("dhcp", service.network_id)]
    (again,) = dhcp.list_services()
    assert again.running and again.hosts == service.hosts
