"""Contract tests every network driver must pass: the in-memory fakes and the
real Linux drivers, the latter on hosts that are namespaces this test makes
and removes (tests/integration/netns_fixtures.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.fake_network import FakePorts
from workers.drivers.linux_ports import LinuxPorts
from workers.drivers.netns_topology import EXTERNAL_BRIDGE, EXTERNAL_PHYSNET, NetnsTopology
from workers.drivers.network import PortDriver
from workers.drivers.network_types import (
    PluggedPort,
    PortBinding,
    Segment,
    SegmentState,
    bridge_name,
    tap_name,
)
from workers.drivers.runner import SubprocessRunner
from workers.drivers.segments import VlanDevices

NET_A = "6a1f0c3e-1d2b-4c5a-9e8f-7a6b5c4d3e2f"
NET_B = "0b9e8d7c-6f5a-4b3c-8d2e-1f0a9b8c7d6e"
PORT_1 = "3c2b1a09-8f7e-4d6c-9b5a-1f2e3d4c5b6a"
PORT_2 = "9d8c7b6a-5f4e-4d3c-8b2a-0f1e2d3c4b5a"
H1_VTEP, H2_VTEP, NODE_VTEP = "100.64.0.10", "100.64.0.11", "100.64.0.2"
SEG_A = Segment(NET_A, "vxlan", 1001, vteps=frozenset({H1_VTEP, H2_VTEP}))
SEG_B = Segment(NET_B, "vxlan", 1002, vteps=frozenset({H1_VTEP}))
pytest_plugins = ["netns_fixtures"]


def _port(port_id: str, segment: Segment, mac: str = "fa:16:3e:00:00:01") -> PortBinding:
    return PortBinding(port_id, segment, mac)


@pytest.fixture(params=["fake", "linux"])
def ports(request: pytest.FixtureRequest) -> Iterator[PortDriver]:
    """The port driver of compute host h1 (underlay address H1_VTEP)."""
    if request.param == "fake":
        yield FakePorts(H1_VTEP)
        return
    topo: NetnsTopology = request.getfixturevalue("topology")
    yield LinuxPorts(
        topo.host_namespace("h1"),
        vxlan=topo.vxlan("h1"),
        vlan=VlanDevices({"physnet1": "underlay"}),
    )


@pytest.fixture(params=["fake", "linux"])
def node_ports(request: pytest.FixtureRequest) -> Iterator[PortDriver]:
    """The network node's port driver, with the external network's bridge."""
    flat = {EXTERNAL_PHYSNET: EXTERNAL_BRIDGE}
    if request.param == "fake":
        yield FakePorts(NODE_VTEP, flat_bridges=flat)
        return
    topo: NetnsTopology = request.getfixturevalue("topology")
    yield LinuxPorts(topo.network_namespace, vxlan=topo.vxlan(None), flat_bridges=flat)


def test_a_new_host_has_no_ports_and_no_networks(ports: PortDriver) -> None:
    assert ports.list_ports() == []
    assert ports.list_segments() == []


def test_plugging_a_port_makes_its_tap_bridge_and_vxlan_flooding_to_the_others(
    ports: PortDriver,
) -> None:
    tap = ports.ensure_port(_port(PORT_1, SEG_A))

    assert tap == tap_name(PORT_1) == "tap3c2b1a098f7e"
    assert ports.list_ports() == [PluggedPort(PORT_1, NET_A, tap)]
    assert ports.list_segments() == [
        SegmentState(NET_A, bridge_name(NET_A), "vxlan-1001", frozenset({H2_VTEP}))
    ]


def test_plugging_again_changes_nothing(ports: PortDriver) -> None:
    ports.ensure_port(_port(PORT_1, SEG_A))
    before = (ports.list_ports(), ports.list_segments())

    ports.ensure_port(_port(PORT_1, SEG_A))

    assert (ports.list_ports(), ports.list_segments()) == before


def test_ports_of_one_network_share_its_bridge_which_goes_with_the_last(
    ports: PortDriver,
) -> None:
    ports.ensure_port(_port(PORT_1, SEG_A))
    ports.ensure_port(_port(PORT_2, SEG_A, "fa:16:3e:00:00:02"))
    assert len(ports.list_segments()) == 1

    ports.remove_port(PORT_1)
    assert [p.port_id for p in ports.list_ports()] == [PORT_2]
    assert [s.network_id for s in ports.list_segments()] == [NET_A]

    ports.remove_port(PORT_2)
    assert ports.list_ports() == [] and ports.list_segments() == []


def test_removing_an_unknown_port_is_fine_and_removing_twice_too(ports: PortDriver) -> None:
    ports.ensure_port(_port(PORT_1, SEG_A))

    ports.remove_port(PORT_2)
    ports.remove_port(PORT_1)
    ports.remove_port(PORT_1)

    assert ports.list_ports() == [] and ports.list_segments() == []


def test_two_networks_on_one_host_get_two_bridges(ports: PortDriver) -> None:
    ports.ensure_port(_port(PORT_1, SEG_A))
    ports.ensure_port(_port(PORT_2, SEG_B, "fa:16:3e:00:00:02"))

    segments = {s.network_id: s for s in ports.list_segments()}
    assert segments[NET_B] == SegmentState(NET_B, bridge_name(NET_B), "vxlan-1002", frozenset())
    assert segments[NET_A].device == "vxlan-1001"


def test_a_port_plugged_on_another_network_moves_and_its_old_network_goes(
    ports: PortDriver,
) -> None:
    ports.ensure_port(_port(PORT_1, SEG_A))

    ports.ensure_port(_port(PORT_1, SEG_B))

    assert ports.list_ports() == [PluggedPort(PORT_1, NET_B, tap_name(PORT_1))]
    assert [s.network_id for s in ports.list_segments()] == [NET_B]


def test_update_segment_sets_the_flood_list_without_doubles(ports: PortDriver) -> None:
    ports.ensure_port(_port(PORT_1, SEG_A))
    third = "100.64.0.12"

    ports.update_segment(Segment(NET_A, "vxlan", 1001, vteps=frozenset({H1_VTEP, third})))
    ports.update_segment(Segment(NET_A, "vxlan", 1001, vteps=frozenset({H1_VTEP, third})))

    [segment] = ports.list_segments()
    assert segment.vteps == frozenset({third})


def test_update_segment_of_an_absent_network_makes_nothing(ports: PortDriver) -> None:
    ports.update_segment(SEG_B)

    assert ports.list_segments() == []


def test_vlan_on_this_kernel_is_refused_clearly_and_leaves_nothing(ports: PortDriver) -> None:
    vlan = Segment(NET_B, "vlan", 42, physical_network="physnet1")

    # This kernel has no 802.1Q (PLATFORM.md); the fake plays the same host.
    with pytest.raises(PermanentDriverError, match="unavailable"):
        ports.ensure_port(_port(PORT_1, vlan))

    assert ports.list_ports() == [] and ports.list_segments() == []


def test_a_flat_network_uses_the_existing_bridge_and_never_removes_it(
    node_ports: PortDriver,
) -> None:
    external = Segment(NET_B, "flat", physical_network=EXTERNAL_PHYSNET)

    node_ports.ensure_port(_port(PORT_1, external))
    assert node_ports.list_ports() == [PluggedPort(PORT_1, NET_B, tap_name(PORT_1))]
    assert node_ports.list_segments() == []  # the bridge is the host's, not ours
    node_ports.remove_port(PORT_1)

    assert node_ports.list_ports() == []
    node_ports.ensure_port(_port(PORT_2, external))  # the bridge is still there
    assert [p.port_id for p in node_ports.list_ports()] == [PORT_2]


def test_a_flat_network_without_a_bridge_is_a_permanent_error(ports: PortDriver) -> None:
    with pytest.raises(PermanentDriverError):
        ports.ensure_port(_port(PORT_1, Segment(NET_B, "flat", physical_network="nowhere")))


@pytest.mark.parametrize(
    "make",
    [
        lambda: PortBinding("not-a-uuid", SEG_A, "fa:16:3e:00:00:01"),
        lambda: PortBinding(PORT_1, SEG_A, "01:00:5e:00:00:01"),  # multicast
        lambda: PortBinding(PORT_1, SEG_A, "fa:16:3e:00:00:01; rm -rf /"),
        lambda: Segment(NET_A, "vxlan", 0),
        lambda: Segment(NET_A, "vxlan", 1 << 24),
        lambda: Segment(NET_A, "geneve", 5),
        lambda: Segment(NET_A, "vxlan", 5, mtu=100),
        lambda: Segment(NET_A, "vxlan", 5, vteps=frozenset({"evil host"})),
        lambda: Segment(NET_A, "flat", physical_network="../etc"),
    ],
)
def test_a_malformed_spec_is_refused_before_any_driver_sees_it(make: object) -> None:
    with pytest.raises(PermanentDriverError):
        make()  # type: ignore[operator]


def test_fake_fail_next_raises_once_then_works() -> None:
    fake = FakePorts(H1_VTEP)
    fake.fail_next(TransientDriverError("netlink busy"))

    with pytest.raises(TransientDriverError):
        fake.ensure_port(_port(PORT_1, SEG_A))

    assert fake.list_ports() == []
    fake.ensure_port(_port(PORT_1, SEG_A))
    assert len(fake.list_ports()) == 1


def test_a_topology_gives_hosts_ports_and_filters_and_the_node_dhcp_and_routers_too(
    topology: NetnsTopology, tmp_path: Path
) -> None:
    host = topology.drivers("h2", SubprocessRunner(), tmp_path)
    node = topology.drivers(None, SubprocessRunner(), tmp_path)

    assert host.dhcp is None and host.routers is None
    assert node.dhcp is not None and node.routers is not None
    host.ports.ensure_port(_port(PORT_1, SEG_A))
    [segment] = host.ports.list_segments()
    assert segment.vteps == frozenset({H1_VTEP})  # h2 floods to h1, not to itself
    assert node.routers.list_routers() == [] and node.dhcp.list_services() == []
