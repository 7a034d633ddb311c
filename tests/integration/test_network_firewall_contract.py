"""Contract tests for security-group filters (the fake, and nftables in a
namespaced host), then real traffic between namespaces standing in for
guests: ingress denied unless a rule allows it, replies always pass,
remote CIDRs, port ranges, anti-spoofing, and changes applied to ports in
use. (Real QEMU guests: tests/e2e/test_real_networking.py.)"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from netns_helpers import attach_client, pings, run_in

from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.fake_network import FakeFirewall, FakePorts
from workers.drivers.linux_ports import LinuxPorts
from workers.drivers.netns import in_namespace, ipr, set_sysctl
from workers.drivers.netns_topology import NetnsTopology
from workers.drivers.network import FirewallDriver, PortDriver
from workers.drivers.network_specs import AddressSet, FilterRule, FilterState, PortFilter
from workers.drivers.network_types import PortBinding, Segment
from workers.drivers.nft_firewall import NftFirewall
from workers.drivers.runner import SubprocessRunner

NET = "6a1f0c3e-1d2b-4c5a-9e8f-7a6b5c4d3e2f"
SEG = Segment(NET, "vxlan", 3001, vteps=frozenset({"100.64.0.10", "100.64.0.11"}))
A, B, C = (
    "a0000000-0000-4000-8000-000000000001",
    "b0000000-0000-4000-8000-000000000002",
    "c0000000-0000-4000-8000-000000000003",
)
MACS = {A: "fa:16:3e:00:00:0a", B: "fa:16:3e:00:00:0b", C: "fa:16:3e:00:00:0c"}
IPS = {A: "10.0.0.11", B: "10.0.0.12", C: "10.0.0.13"}
EGRESS_ALL = FilterRule("egress")
ICMP_IN = FilterRule("ingress", protocol="icmp")
GROUP = "d0000000-0000-4000-8000-00000000000d"
FROM_GROUP = (
    FilterRule("ingress", remote_group=GROUP),
    FilterRule("ingress", "IPv6", remote_group=GROUP),
)
pytest_plugins = ["netns_fixtures"]


def _filter(port: str, *rules: FilterRule) -> PortFilter:
    return PortFilter(port, MACS[port], (IPS[port],), rules)


@dataclass
class Host:
    ports: PortDriver
    firewall: FirewallDriver


@pytest.fixture(params=["fake", "linux"])
def host(request: pytest.FixtureRequest) -> Iterator[Host]:
    if request.param == "fake":
        ports = FakePorts("100.64.0.10")
        yield Host(ports, FakeFirewall(ports))
        return
    topo: NetnsTopology = request.getfixturevalue("topology")
    namespace = topo.host_namespace("h1")
    yield Host(
        LinuxPorts(namespace, vxlan=topo.vxlan("h1")), NftFirewall(namespace, SubprocessRunner())
    )


def test_a_new_host_filters_nothing(host: Host) -> None:
    assert host.firewall.list_filters() == []


def test_a_port_must_be_plugged_before_it_is_filtered(host: Host) -> None:
    with pytest.raises(TransientDriverError):
        host.firewall.ensure_filter(_filter(A))

    assert host.firewall.list_filters() == []


def test_a_filter_is_listed_with_the_digest_of_what_it_allows(host: Host) -> None:
    host.ports.ensure_port(PortBinding(A, SEG, MACS[A]))

    host.firewall.ensure_filter(_filter(A, EGRESS_ALL))
    host.firewall.ensure_filter(_filter(A, EGRESS_ALL))

    assert host.firewall.list_filters() == [FilterState(A, _filter(A, EGRESS_ALL).digest)]


def test_a_changed_filter_replaces_the_old_one(host: Host) -> None:
    host.ports.ensure_port(PortBinding(A, SEG, MACS[A]))
    host.firewall.ensure_filter(_filter(A, EGRESS_ALL))

    host.firewall.ensure_filter(_filter(A, EGRESS_ALL, ICMP_IN))

    [state] = host.firewall.list_filters()
    assert state.digest == _filter(A, EGRESS_ALL, ICMP_IN).digest != _filter(A).digest


def _grouped(port: str, members: tuple[str, ...], *rules: FilterRule) -> PortFilter:
    """A filter letting in its remote group's members (both ethertypes)."""
    sets = (AddressSet(GROUP, "IPv4", frozenset(members)), AddressSet(GROUP, "IPv6"))
    return PortFilter(port, MACS[port], (IPS[port],), (*FROM_GROUP, *rules), sets)


def test_a_remote_group_is_one_set_shared_by_the_filters_naming_it(host: Host) -> None:
    for port in (A, B):
        host.ports.ensure_port(PortBinding(port, SEG, MACS[port]))
        host.firewall.ensure_filter(_grouped(port, (IPS[A], IPS[B])))

    assert host.firewall.list_address_sets() == [
        AddressSet(GROUP, "IPv4", frozenset({IPS[A], IPS[B]})),
        AddressSet(GROUP, "IPv6"),
    ]
    digests = host.firewall.list_filters()

    # A member joins: its set changes, no filter's rules do.
    joined = AddressSet(GROUP, "IPv4", frozenset({IPS[A], IPS[B], IPS[C]}))
    host.firewall.ensure_address_sets([joined])

    assert host.firewall.list_address_sets()[0] == joined
    assert host.firewall.list_filters() == digests
    assert digests[0].digest == _grouped(A, ()).digest  # members are no part of it


def test_a_set_no_filter_names_is_neither_made_nor_kept(host: Host) -> None:
    other = AddressSet("e0000000-0000-4000-8000-00000000000e", "IPv4", frozenset({IPS[C]}))
    host.firewall.ensure_address_sets([other])
    assert host.firewall.list_address_sets() == []

    for port in (A, B):
        host.ports.ensure_port(PortBinding(port, SEG, MACS[port]))
        host.firewall.ensure_filter(_grouped(port, (IPS[A],)))
    host.firewall.remove_filter(A)
    assert len(host.firewall.list_address_sets()) == 2  # B still names them

    host.firewall.ensure_filter(_filter(B, EGRESS_ALL))  # B no longer does
    assert host.firewall.list_address_sets() == []
    host.firewall.ensure_filter(_grouped(B, ()))
    host.firewall.remove_filter(B)
    assert host.firewall.list_address_sets() == []


def test_a_filter_must_carry_exactly_the_sets_its_rules_name() -> None:
    with pytest.raises(PermanentDriverError):
        PortFilter(A, MACS[A], (IPS[A],), FROM_GROUP)
    with pytest.raises(PermanentDriverError):
        PortFilter(A, MACS[A], (IPS[A],), (), (AddressSet(GROUP),))
    for wrong in (IPS[A], "fe80::1%eth0", "fd00::1 } accept; {"):
        with pytest.raises(PermanentDriverError):
            AddressSet(GROUP, "IPv6", frozenset({wrong}))


def test_filters_of_several_ports_live_side_by_side_and_go_one_by_one(host: Host) -> None:
    for port in (A, B):
        host.ports.ensure_port(PortBinding(port, SEG, MACS[port]))
        host.firewall.ensure_filter(_filter(port))

    host.firewall.remove_filter(A)
    assert [f.port_id for f in host.firewall.list_filters()] == [B]

    host.firewall.remove_filter(A)  # again: fine
    host.firewall.remove_filter(B)
    assert host.firewall.list_filters() == []


# Real traffic, namespaces standing in for guests: A and B on host h1, C on
# h2 across VXLAN, all on one network.


@pytest.fixture
def guests(topology: NetnsTopology) -> Iterator[tuple[NftFirewall, dict[str, str]]]:
    h1 = LinuxPorts(topology.host_namespace("h1"), vxlan=topology.vxlan("h1"))
    h2 = LinuxPorts(topology.host_namespace("h2"), vxlan=topology.vxlan("h2"))
    namespaces = {}
    for port, ports in ((A, h1), (B, h1), (C, h2)):
        namespace = attach_client(
            ports, PortBinding(port, SEG, MACS[port]), f"{topology.prefix}-{port[0]}"
        )
        run_in(namespace, "ip", "addr", "add", f"{IPS[port]}/24", "dev", "eth0")
        namespaces[port] = namespace
    yield NftFirewall(topology.host_namespace("h1"), SubprocessRunner()), namespaces


def _reaches(namespaces: dict[str, str], source: str, target: str) -> bool:
    return pings(namespaces[source], IPS[target])


def _tcp_open(namespaces: dict[str, str], source: str, target: str, port: int) -> bool:
    listener = in_namespace(namespaces[target], lambda: _listen(port))
    try:
        return in_namespace(namespaces[source], lambda: _connects(IPS[target], port))
    finally:
        listener.close()


def _listen(port: int) -> socket.socket:
    listener = socket.create_server(("0.0.0.0", port))
    return listener


def _connects(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1.0):
            return True
    except OSError:
        return False


def test_without_a_filter_everything_passes(guests: tuple[NftFirewall, dict[str, str]]) -> None:
    _, ns = guests

    assert _reaches(ns, A, B) and _reaches(ns, B, A) and _reaches(ns, C, B)


def test_a_filtered_port_receives_nothing_and_sends_nothing_unless_a_rule_allows(
    guests: tuple[NftFirewall, dict[str, str]],
) -> None:
    firewall, ns = guests
    firewall.ensure_filter(_filter(B))

    assert not _reaches(ns, A, B) and not _reaches(ns, C, B)
    assert not _reaches(ns, B, A)  # no egress rule: not even the request leaves
    assert _reaches(ns, A, C)  # the others are untouched


def test_replies_to_allowed_traffic_pass_without_a_rule_of_their_own(
    guests: tuple[NftFirewall, dict[str, str]],
) -> None:
    firewall, ns = guests
    firewall.ensure_filter(_filter(B, EGRESS_ALL))

    assert _reaches(ns, B, A) and _reaches(ns, B, C)  # replies came back in
    assert not _reaches(ns, A, B)  # a new request in is still refused


def test_an_ingress_rule_takes_effect_on_a_port_in_use_and_goes_again(
    guests: tuple[NftFirewall, dict[str, str]],
) -> None:
    firewall, ns = guests
    firewall.ensure_filter(_filter(B))
    assert not _reaches(ns, A, B)

    firewall.ensure_filter(_filter(B, ICMP_IN))
    assert _reaches(ns, A, B) and _reaches(ns, C, B)

    firewall.ensure_filter(_filter(B))
    assert not _reaches(ns, A, B)


def test_a_remote_cidr_lets_in_only_those_addresses(
    guests: tuple[NftFirewall, dict[str, str]],
) -> None:
    firewall, ns = guests
    firewall.ensure_filter(_filter(B, FilterRule("ingress", protocol="icmp", remotes=(IPS[C],))))

    assert _reaches(ns, C, B) and not _reaches(ns, A, B)


def test_a_remote_group_lets_in_its_members_as_its_set_changes(
    guests: tuple[NftFirewall, dict[str, str]],
) -> None:
    firewall, ns = guests
    firewall.ensure_filter(_grouped(B, (IPS[A],), EGRESS_ALL))
    assert _reaches(ns, A, B) and not _reaches(ns, C, B)

    # C joins and A leaves: only the set changes, on the port in use.
    firewall.ensure_address_sets([AddressSet(GROUP, "IPv4", frozenset({IPS[C]}))])
    assert _reaches(ns, C, B) and not _reaches(ns, A, B)

    firewall.ensure_address_sets([AddressSet(GROUP, "IPv4")])
    assert not _reaches(ns, C, B) and not _reaches(ns, A, B)


def test_an_empty_remote_group_lets_in_nobody(guests: tuple[NftFirewall, dict[str, str]]) -> None:
    firewall, ns = guests
    firewall.ensure_filter(_filter(B, FilterRule("ingress", remotes=())))

    assert not _reaches(ns, A, B)


def test_a_port_range_opens_those_ports_only(guests: tuple[NftFirewall, dict[str, str]]) -> None:
    firewall, ns = guests
    firewall.ensure_filter(
        _filter(B, FilterRule("ingress", protocol="tcp", port_min=8000, port_max=8001))
    )

    assert _tcp_open(ns, A, B, 8001)
    assert not _tcp_open(ns, A, B, 8002)
    assert not _reaches(ns, A, B)  # and not ICMP


def test_a_port_cannot_send_from_an_address_that_is_not_its_own(
    guests: tuple[NftFirewall, dict[str, str]],
) -> None:
    firewall, ns = guests
    firewall.ensure_filter(_filter(B, EGRESS_ALL))
    run_in(ns[B], "ip", "addr", "add", "10.0.0.99/24", "dev", "eth0")

    spoofed = run_in(ns[B], "busybox", "ping", "-c", "1", "-W", "1", "-I", "10.0.0.99", IPS[A])

    assert spoofed.returncode != 0
    assert _reaches(ns, B, A)


def test_removed_filters_leave_no_chain_or_mark_behind(
    guests: tuple[NftFirewall, dict[str, str]],
    topology: NetnsTopology,
) -> None:
    firewall, ns = guests
    firewall.ensure_filter(_filter(A, EGRESS_ALL))
    firewall.ensure_filter(_filter(B, ICMP_IN))

    firewall.remove_filter(A)
    firewall.remove_filter(B)

    ruleset = run_in(topology.host_namespace("h1"), "nft", "list", "ruleset").stdout
    assert "tapa00000000000" not in ruleset and "tapb00000000000" not in ruleset
    assert "jump" not in ruleset and _reaches(ns, A, B)
    with ipr(topology.host_namespace("h1")) as ip:  # the ports stay plugged
        assert ip.link_lookup(ifname="tapb00000000000")


def test_a_filter_with_every_kind_of_rule_loads(host: Host) -> None:
    host.ports.ensure_port(PortBinding(A, SEG, MACS[A]))
    every_kind = PortFilter(
        A,
        MACS[A],
        (IPS[A], "fd00::11"),
        (
            FilterRule("ingress", "IPv4", "tcp", 22, 22, ("192.0.2.0/24",)),
            FilterRule("ingress", "IPv4", "udp", 1000, 2000),
            FilterRule("ingress", "IPv4", "icmp", 8, 0),
            FilterRule("ingress", "IPv6", "icmp", 128),
            FilterRule("ingress", "IPv6", "tcp", 80, 443, ("fd00::/64", "2001:db8::1")),
            FilterRule("egress", "IPv6"),
            FilterRule("egress", "IPv4", remotes=()),
        ),
    )

    host.firewall.ensure_filter(every_kind)

    assert host.firewall.list_filters() == [FilterState(A, every_kind.digest)]


def test_a_host_that_stopped_filtering_bridged_traffic_filters_it_again(
    guests: tuple[NftFirewall, dict[str, str]], topology: NetnsTopology
) -> None:
    firewall, ns = guests
    set_sysctl(topology.host_namespace("h1"), "net/bridge/bridge-nf-call-iptables", "0")

    firewall.ensure_filter(_filter(B))

    assert not _reaches(ns, A, B)
