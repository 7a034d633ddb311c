"""Contract tests for DHCP drivers (the fake, and dnsmasq in namespaces of
the test's own), then what only the real one can show: a client gets its
static lease across VXLAN, an entry is added without a restart, a removed
one's lease is released, and the metadata proxy forwards to 127.0.0.1."""

from __future__ import annotations

import hmac
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from netns_helpers import StandIn, attach_client, run_in, udhcpc

from workers.drivers.dnsmasq import LinuxDhcp, MetadataUpstream
from workers.drivers.errors import PermanentDriverError
from workers.drivers.fake_network import FakeDhcp
from workers.drivers.linux_ports import LinuxPorts
from workers.drivers.metadata_proxy import sign
from workers.drivers.netns import list_namespaces, namespace_exists, namespace_pids
from workers.drivers.netns_topology import NetnsTopology
from workers.drivers.network import DhcpDriver
from workers.drivers.network_specs import DhcpHost, DhcpService, DhcpState, DhcpSubnet
from workers.drivers.network_types import PortBinding, Segment, tap_name
from workers.drivers.processes import alive
from workers.drivers.runner import SubprocessRunner

NET = "6a1f0c3e-1d2b-4c5a-9e8f-7a6b5c4d3e2f"
DHCP_PORT = "d0d0d0d0-1111-4222-8333-444455556666"
VM_1 = "3c2b1a09-8f7e-4d6c-9b5a-1f2e3d4c5b6a"
VM_2 = "9d8c7b6a-5f4e-4d3c-8b2a-0f1e2d3c4b5a"
SECRET = b"metadata-proxy-secret"
pytest_plugins = ["netns_fixtures"]
SEG = Segment(NET, "vxlan", 2001, vteps=frozenset({"100.64.0.2", "100.64.0.10"}))
SERVICE = DhcpService(
    PortBinding(DHCP_PORT, SEG, "fa:16:3e:dd:00:01"),
    "10.0.0.2",
    DhcpSubnet("10.0.0.0/24", "10.0.0.1", lease_seconds=600),
)
HOST_1 = DhcpHost(VM_1, "fa:16:3e:00:00:01", "10.0.0.11", "vm-one")
HOST_2 = DhcpHost(VM_2, "fa:16:3e:00:00:02", "10.0.0.12", "vm-two")


@pytest.fixture(params=["fake", "linux"])
def dhcp(request: pytest.FixtureRequest) -> Iterator[DhcpDriver]:
    if request.param == "fake":
        yield FakeDhcp()
        return
    yield request.getfixturevalue("linux_dhcp")


@pytest.fixture
def linux_dhcp(
    topology: NetnsTopology,
    state_dir: Path,
    standin: StandIn,
) -> Iterator[LinuxDhcp]:
    ports = LinuxPorts(topology.network_namespace, vxlan=topology.vxlan(None))
    driver = LinuxDhcp(
        ports,
        SubprocessRunner(),
        state_dir,
        topology.prefix + "-",
        MetadataUpstream(standin.url, SECRET),
    )
    try:
        yield driver
    finally:
        for state in driver.list_services():
            driver.remove_service(state.network_id)


def _kill_server(dhcp: DhcpDriver) -> None:
    """Play the network's DHCP server dying."""
    if isinstance(dhcp, FakeDhcp):
        dhcp.kill_server(NET)
        return
    assert isinstance(dhcp, LinuxDhcp)
    [pid] = namespace_pids(dhcp.namespace(NET))
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_new_host_serves_no_network(dhcp: DhcpDriver) -> None:
    assert dhcp.list_services() == []


def test_the_first_host_starts_the_networks_server_with_its_entry(dhcp: DhcpDriver) -> None:
    dhcp.ensure_host(SERVICE, HOST_1)

    assert dhcp.list_services() == [DhcpState(NET, True, frozenset({HOST_1}), {}, True)]


def test_ensuring_twice_changes_nothing(dhcp: DhcpDriver) -> None:
    dhcp.ensure_host(SERVICE, HOST_1)

    dhcp.ensure_host(SERVICE, HOST_1)

    assert dhcp.list_services() == [DhcpState(NET, True, frozenset({HOST_1}), {}, True)]


def test_entries_come_and_go_and_the_service_goes_with_the_last(dhcp: DhcpDriver) -> None:
    dhcp.ensure_host(SERVICE, HOST_1)
    dhcp.ensure_host(SERVICE, HOST_2)
    assert dhcp.list_services()[0].hosts == {HOST_1, HOST_2}

    dhcp.remove_host(NET, VM_1)
    assert dhcp.list_services()[0].hosts == {HOST_2}

    dhcp.remove_host(NET, VM_2)
    assert dhcp.list_services() == []


def test_a_changed_entry_replaces_the_old_one(dhcp: DhcpDriver) -> None:
    dhcp.ensure_host(SERVICE, HOST_1)
    moved = replace(HOST_1, ip="10.0.0.99", hostname="renamed")

    dhcp.ensure_host(SERVICE, moved)

    assert dhcp.list_services()[0].hosts == {moved}


def test_removing_unknown_entries_or_services_is_fine(dhcp: DhcpDriver) -> None:
    dhcp.remove_host(NET, VM_1)
    dhcp.remove_service(NET)
    dhcp.ensure_host(SERVICE, HOST_1)

    dhcp.remove_host(NET, VM_2)

    assert dhcp.list_services()[0].hosts == {HOST_1}


def test_ensure_service_converges_on_exactly_the_hosts_given(dhcp: DhcpDriver) -> None:
    dhcp.ensure_host(SERVICE, HOST_1)

    dhcp.ensure_service(SERVICE, frozenset({HOST_2}))
    assert dhcp.list_services()[0].hosts == {HOST_2}

    dhcp.ensure_service(SERVICE, frozenset())
    assert dhcp.list_services() == []


def test_remove_service_ends_it_whatever_its_entries(dhcp: DhcpDriver) -> None:
    dhcp.ensure_host(SERVICE, HOST_1)
    dhcp.ensure_host(SERVICE, HOST_2)

    dhcp.remove_service(NET)

    assert dhcp.list_services() == []


def test_a_dead_server_is_reported_and_started_again_by_the_next_ensure(
    dhcp: DhcpDriver,
) -> None:
    dhcp.ensure_host(SERVICE, HOST_1)

    _kill_server(dhcp)
    [state] = dhcp.list_services()
    assert not state.running

    dhcp.ensure_host(SERVICE, HOST_1)
    assert dhcp.list_services()[0].running


def test_a_service_without_metadata_runs_no_proxy(dhcp: DhcpDriver) -> None:
    dhcp.ensure_host(replace(SERVICE, metadata=False), HOST_1)

    assert dhcp.list_services()[0].metadata is False


# What only the real driver can show.


def test_linux_leaves_no_namespace_process_port_or_file_behind(
    linux_dhcp: LinuxDhcp,
    topology: NetnsTopology,
    state_dir: Path,
) -> None:
    linux_dhcp.ensure_host(SERVICE, HOST_1)
    namespace = linux_dhcp.namespace(NET)
    assert namespace_exists(namespace) and len(namespace_pids(namespace)) == 1

    linux_dhcp.remove_host(NET, VM_1)

    assert not namespace_exists(namespace)
    assert list_namespaces(topology.prefix + "-dhcp") == []
    node = LinuxPorts(topology.network_namespace, vxlan=topology.vxlan(None))
    assert node.list_ports() == [] and node.list_segments() == []
    assert list((state_dir / "dhcp").iterdir()) == []


def test_linux_a_client_across_vxlan_gets_its_static_lease_and_loses_it_on_removal(
    linux_dhcp: LinuxDhcp,
    topology: NetnsTopology,
    state_dir: Path,
) -> None:
    linux_dhcp.ensure_host(SERVICE, HOST_1)
    server_pid = namespace_pids(linux_dhcp.namespace(NET))
    h1 = LinuxPorts(topology.host_namespace("h1"), vxlan=topology.vxlan("h1"))
    client = attach_client(h1, PortBinding(VM_1, SEG, HOST_1.mac), topology.prefix + "-vm1")

    got = udhcpc(client, state_dir)

    assert "cloudledger-guest: eth0 address 10.0.0.11/24" in got.stdout, got.stderr
    routes = run_in(client, "ip", "route").stdout
    assert "default via 10.0.0.1" in routes and "169.254.169.254 via 10.0.0.2" in routes
    [state] = linux_dhcp.list_services()
    assert state.leases == {HOST_1.mac: "10.0.0.11"}

    linux_dhcp.ensure_host(SERVICE, HOST_2)  # reloaded, not restarted
    assert namespace_pids(linux_dhcp.namespace(NET)) == server_pid
    linux_dhcp.remove_host(NET, VM_1)

    [state] = linux_dhcp.list_services()
    assert state.leases == {} and state.hosts == {HOST_2}
    again = udhcpc(client, state_dir).stdout  # no entry: no answer
    assert "eth0 got no address" in again and "eth0 address" not in again
    h1.remove_port(VM_1)


def test_linux_a_client_of_an_unknown_mac_gets_nothing(
    linux_dhcp: LinuxDhcp,
    topology: NetnsTopology,
    state_dir: Path,
) -> None:
    linux_dhcp.ensure_host(SERVICE, HOST_1)
    node = LinuxPorts(topology.network_namespace, vxlan=topology.vxlan(None))
    stranger = PortBinding(VM_2, SEG, "fa:16:3e:66:66:66")
    client = attach_client(node, stranger, topology.prefix + "-stranger")

    got = udhcpc(client, state_dir).stdout
    assert "eth0 got no address" in got and "eth0 address" not in got
    node.remove_port(VM_2)


def test_linux_the_metadata_proxy_names_the_network_and_the_guest_and_signs_both(
    linux_dhcp: LinuxDhcp,
    topology: NetnsTopology,
    state_dir: Path,
    standin: StandIn,
) -> None:
    linux_dhcp.ensure_host(SERVICE, HOST_1)
    node = LinuxPorts(topology.network_namespace, vxlan=topology.vxlan(None))
    client = attach_client(node, PortBinding(VM_1, SEG, HOST_1.mac), topology.prefix + "-vm1")
    udhcpc(client, state_dir)

    url = "http://169.254.169.254/openstack/latest/meta_data.json"
    # A guest's own claims about who it is are not forwarded.
    got = run_in(client, "busybox", "wget", "-q", "-O", "-", "--header",
                 "X-Forwarded-For: 10.0.0.12", url)  # fmt: skip

    answer = json.loads(got.stdout)
    assert answer["path"] == "/metadata/openstack/latest/meta_data.json"
    assert answer["x-cloudledger-network-id"] == NET
    assert answer["x-forwarded-for"] == "10.0.0.11"
    expected = sign(SECRET, NET, "10.0.0.11")
    assert hmac.compare_digest(answer["x-cloudledger-metadata-signature"], expected)
    node.remove_port(VM_1)


def test_linux_without_the_api_the_proxy_answers_502(
    linux_dhcp: LinuxDhcp,
    topology: NetnsTopology,
    state_dir: Path,
    standin: StandIn,
) -> None:
    linux_dhcp.ensure_host(SERVICE, HOST_1)
    node = LinuxPorts(topology.network_namespace, vxlan=topology.vxlan(None))
    client = attach_client(node, PortBinding(VM_1, SEG, HOST_1.mac), topology.prefix + "-vm1")
    udhcpc(client, state_dir)
    standin.close()

    got = run_in(client, "busybox", "wget", "-S", "-O", "-", "http://169.254.169.254/")

    assert "502" in got.stderr
    node.remove_port(VM_1)


def test_linux_the_dhcp_port_is_a_veth_on_the_network_nodes_bridge(
    linux_dhcp: LinuxDhcp,
    topology: NetnsTopology,
) -> None:
    linux_dhcp.ensure_host(SERVICE, HOST_1)

    node = LinuxPorts(topology.network_namespace, vxlan=topology.vxlan(None))
    assert [p.tap for p in node.list_ports()] == [tap_name(DHCP_PORT)]
    [segment] = node.list_segments()
    assert segment.vteps == {"100.64.0.10"}  # floods to h1, not to itself


def test_linux_a_state_folder_nobody_can_enter_is_refused_clearly(
    topology: NetnsTopology, tmp_path: Path
) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    ports = LinuxPorts(topology.network_namespace, vxlan=topology.vxlan(None))
    dhcp = LinuxDhcp(ports, SubprocessRunner(), closed, topology.prefix + "-")

    with pytest.raises(PermanentDriverError, match="closed to others"):
        dhcp.ensure_host(SERVICE, HOST_1)

    assert not namespace_exists(dhcp.namespace(NET))  # refused before making anything
    assert ports.list_ports() == [] and ports.list_segments() == []
