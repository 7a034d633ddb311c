"""Contract tests for router drivers (the fake, and router namespaces with
nftables NAT on a namespaced network node), then real traffic: the outside
world reaches a floating IP, tenants leave through SNAT, and disassociation
and removal take the NAT and the legs away."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest
from netns_helpers import attach_client, pings, run_in

from workers.drivers.errors import PermanentDriverError
from workers.drivers.fake_network import FakeRouters
from workers.drivers.linux_ports import LinuxPorts
from workers.drivers.netns import in_namespace, list_namespaces
from workers.drivers.netns_topology import EXTERNAL_BRIDGE, EXTERNAL_PHYSNET, NetnsTopology
from workers.drivers.network import RouterDriver
from workers.drivers.network_specs import (
    FloatingIp,
    RouterGateway,
    RouterInterface,
    RouterSpec,
    RouterState,
)
from workers.drivers.network_types import PortBinding, Segment
from workers.drivers.nft_router import LinuxRouters
from workers.drivers.runner import SubprocessRunner

pytest_plugins = ["netns_fixtures"]

ROUTER = "e0000000-0000-4000-8000-0000000000e1"
NET, NET_2, EXT = (
    "6a1f0c3e-1d2b-4c5a-9e8f-7a6b5c4d3e2f",
    "7b2f0c3e-1d2b-4c5a-9e8f-7a6b5c4d3e2f",
    "ee000000-0000-4000-8000-0000000000ee",
)
LEG, LEG_2, GW = (
    "10000000-0000-4000-8000-000000000001",
    "20000000-0000-4000-8000-000000000002",
    "90000000-0000-4000-8000-000000000009",
)
VM_1, VM_2 = "a0000000-0000-4000-8000-000000000001", "b0000000-0000-4000-8000-000000000002"
SEG = Segment(NET, "vxlan", 4001, vteps=frozenset({"100.64.0.2", "100.64.0.10"}))
SEG_2 = Segment(NET_2, "vxlan", 4002, vteps=frozenset({"100.64.0.2"}))
EXT_SEG = Segment(EXT, "flat", physical_network=EXTERNAL_PHYSNET)
INSIDE = RouterInterface(PortBinding(LEG, SEG, "fa:16:3e:00:01:01"), "10.0.0.1", 24)
INSIDE_2 = RouterInterface(PortBinding(LEG_2, SEG_2, "fa:16:3e:00:01:02"), "10.0.1.1", 24)
GATEWAY = RouterGateway(
    PortBinding(GW, EXT_SEG, "fa:16:3e:00:09:09"), "198.51.100.10", 24, "198.51.100.1"
)
FIP = FloatingIp("198.51.100.20", "10.0.0.11")
FULL = RouterSpec(ROUTER, (INSIDE, INSIDE_2), GATEWAY, (FIP,))


@pytest.fixture(params=["fake", "linux"])
def routers(request: pytest.FixtureRequest) -> Iterator[RouterDriver]:
    if request.param == "fake":
        yield FakeRouters()
        return
    yield request.getfixturevalue("linux_routers")


@pytest.fixture
def linux_routers(topology: NetnsTopology) -> Iterator[LinuxRouters]:
    node = LinuxPorts(
        topology.network_namespace,
        vxlan=topology.vxlan(None),
        flat_bridges={EXTERNAL_PHYSNET: EXTERNAL_BRIDGE},
    )
    driver = LinuxRouters(node, SubprocessRunner(), topology.prefix + "-")
    try:
        yield driver
    finally:
        for state in driver.list_routers():
            driver.remove_router(state.router_id)


def test_a_new_node_has_no_routers(routers: RouterDriver) -> None:
    assert routers.list_routers() == []


def test_a_router_is_listed_with_its_legs_and_floating_ips(routers: RouterDriver) -> None:
    routers.ensure_router(FULL)
    routers.ensure_router(FULL)

    assert routers.list_routers() == [
        RouterState(ROUTER, frozenset({LEG, LEG_2}), GW, frozenset({FIP}))
    ]


def test_a_router_converges_on_its_new_spec_as_a_whole(routers: RouterDriver) -> None:
    routers.ensure_router(FULL)
    moved = FloatingIp("198.51.100.21", "10.0.0.12")

    routers.ensure_router(replace(FULL, interfaces=(INSIDE,), floating_ips=(moved,)))

    assert routers.list_routers() == [RouterState(ROUTER, frozenset({LEG}), GW, frozenset({moved}))]


def test_a_router_without_gateway_only_routes(routers: RouterDriver) -> None:
    routers.ensure_router(FULL)

    routers.ensure_router(RouterSpec(ROUTER, (INSIDE, INSIDE_2)))

    assert routers.list_routers() == [
        RouterState(ROUTER, frozenset({LEG, LEG_2}), None, frozenset())
    ]


def test_removing_a_router_twice_or_an_unknown_one_is_fine(routers: RouterDriver) -> None:
    routers.ensure_router(FULL)

    routers.remove_router(ROUTER)
    routers.remove_router(ROUTER)

    assert routers.list_routers() == []


def test_floating_ips_without_a_gateway_or_twice_are_refused() -> None:
    with pytest.raises(PermanentDriverError):
        RouterSpec(ROUTER, (INSIDE,), None, (FIP,))
    with pytest.raises(PermanentDriverError):
        RouterSpec(ROUTER, (INSIDE,), GATEWAY, (FIP, FloatingIp(FIP.floating_ip, "10.0.0.12")))


# Real traffic: two "guests" on h1 behind the router on the network node.


@pytest.fixture
def tenants(topology: NetnsTopology, linux_routers: LinuxRouters) -> dict[str, str]:
    h1 = LinuxPorts(topology.host_namespace("h1"), vxlan=topology.vxlan("h1"))
    found = {}
    for port, address in ((VM_1, "10.0.0.11"), (VM_2, "10.0.0.12")):
        mac = "fa:16:3e:00:00:" + port[0] * 2
        namespace = attach_client(h1, PortBinding(port, SEG, mac), f"{topology.prefix}-{port[0]}")
        run_in(namespace, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
        run_in(namespace, "ip", "route", "add", "default", "via", "10.0.0.1")
        found[address] = namespace
    return found


def _source_seen_outside(topology: NetnsTopology, client: str) -> str:
    """The address a UDP datagram from ``client`` arrives from, outside."""
    listener = in_namespace(topology.external_namespace, lambda: _udp(("0.0.0.0", 5353)))
    try:

        def send() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
                out.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                out.bind(("0.0.0.0", 40000))  # one flow, each time: one conntrack entry
                out.sendto(b"hello", (topology.external_gateway, 5353))

        in_namespace(client, send)
        _, (source, _) = listener.recvfrom(64)
        return str(source)
    finally:
        listener.close()


def _udp(address: tuple[str, int]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(3.0)
    return sock


def test_the_outside_reaches_a_floating_ip_and_tenants_leave_through_snat(
    topology: NetnsTopology, linux_routers: LinuxRouters, tenants: dict[str, str]
) -> None:
    linux_routers.ensure_router(FULL)
    outside = topology.external_namespace

    assert pings(outside, FIP.floating_ip)
    assert not pings(outside, "10.0.0.11")  # tenant addresses are not routed outside
    assert _source_seen_outside(topology, tenants["10.0.0.11"]) == FIP.floating_ip
    assert _source_seen_outside(topology, tenants["10.0.0.12"]) == GATEWAY.address


def test_disassociation_removes_the_nat_of_a_floating_ip(
    topology: NetnsTopology, linux_routers: LinuxRouters, tenants: dict[str, str]
) -> None:
    linux_routers.ensure_router(FULL)
    assert _source_seen_outside(topology, tenants["10.0.0.11"]) == FIP.floating_ip

    linux_routers.ensure_router(replace(FULL, floating_ips=()))

    assert not pings(topology.external_namespace, FIP.floating_ip)
    # the same flow again: conntrack no longer holds its old NAT
    assert _source_seen_outside(topology, tenants["10.0.0.11"]) == GATEWAY.address


def test_a_removed_router_leaves_no_namespace_leg_or_bridge(
    topology: NetnsTopology, linux_routers: LinuxRouters
) -> None:
    linux_routers.ensure_router(FULL)

    linux_routers.remove_router(ROUTER)

    assert list_namespaces(topology.prefix + "-router") == []
    node = LinuxPorts(topology.network_namespace, vxlan=topology.vxlan(None))
    assert node.list_ports() == [] and node.list_segments() == []
    bridges = run_in(topology.network_namespace, "ip", "-br", "link").stdout
    assert EXTERNAL_BRIDGE in bridges and "brq" not in bridges
