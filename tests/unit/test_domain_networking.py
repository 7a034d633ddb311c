"""The networking aggregates' events: each one a method raises is stored
and replayed to the same state, and the rules their public methods check
(a host's report for another binding refused, a rule equal to another
refused, a router's interfaces one per subnet)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from commands.app import CloudApp
from domain.errors import Conflict, InvalidInput, InvalidTransition
from domain.floating_ip import FloatingIP
from domain.network import Network, SegmentPool
from domain.network_values import AllocationPool, FixedIp, HostRoute, SecurityGroupRule, Segment
from domain.port import Port
from domain.router import Router
from domain.security_group import SecurityGroup, checked_rule
from domain.subnet import Subnet
from domain.values import SYSTEM

P = "project-1"


def _app() -> CloudApp:
    return CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k not in ("_pending_events",)}


def _replays(app: CloudApp, aggregate: Any) -> None:
    app.save(aggregate)
    assert _state(app.repository.get(aggregate.id)) == _state(aggregate)


def _port() -> Port:
    return Port(
        project_id=P, network_id="n1", name="p", description="", mac_address="fa:16:3e:00:00:01",
        fixed_ips=[FixedIp("s1", "10.0.0.5")], device_id="", device_owner="",
        admin_state_up=True, port_security_enabled=True, security_group_ids=["g1"],
        host="", delete_with_device=False, actor=SYSTEM,
    )  # fmt: skip


def test_a_port_goes_through_its_life_and_replays_the_same() -> None:
    app, port = _app(), _port()
    port.update({"name": "q", "admin_state_up": False}, SYSTEM)
    port.change_fixed_ips([FixedIp("s1", "10.0.0.5"), FixedIp("s2", "10.1.0.5")], SYSTEM)
    port.change_security(True, ["g2"], SYSTEM)
    port.attach("server-1", "compute:nova", SYSTEM)
    port.bind("compute-1", SYSTEM)
    port.mark_plugged("compute-1", SYSTEM)
    assert port.status == "ACTIVE"
    port.attach_floating_ip("fip-1", "10.0.0.5", SYSTEM)
    _replays(app, port)
    port.bind("compute-2", SYSTEM)  # moved: unbound from the first, DOWN until plugged again
    assert (port.host, port.status) == ("compute-2", "DOWN")
    port.detach_floating_ip("fip-1", SYSTEM)
    port.mark_unplugged("compute-2", SYSTEM)
    port.detach(SYSTEM)
    assert (port.device_id, port.host) == ("", "")
    port.delete(SYSTEM)
    _replays(app, port)


def test_a_plug_reported_by_a_host_the_port_is_not_bound_to_is_refused() -> None:
    port = _port()
    port.bind("compute-1", SYSTEM)
    with pytest.raises(InvalidTransition):
        port.mark_plugged("compute-2", SYSTEM)


def test_a_port_on_a_device_is_not_attached_to_another() -> None:
    port = _port()
    port.attach("server-1", "compute:nova", SYSTEM)
    with pytest.raises(Conflict, match="already has an attached device"):
        port.attach("server-2", "compute:nova", SYSTEM)


def test_a_fixed_address_takes_one_floating_ip() -> None:
    port = _port()
    port.attach_floating_ip("fip-1", "10.0.0.5", SYSTEM)
    with pytest.raises(Conflict, match="already has a floating IP"):
        port.attach_floating_ip("fip-2", "10.0.0.5", SYSTEM)
    with pytest.raises(InvalidInput):
        port.attach_floating_ip("fip-3", "10.9.9.9", SYSTEM)


def test_a_network_subnet_and_segment_pool_replay_the_same() -> None:
    app = _app()
    network = Network(
        project_id=P, name="n", description="", admin_state_up=True, shared=False,
        external=False, segment=Segment("vxlan", "", 7), mtu=1450,
        port_security_enabled=True, actor=SYSTEM,
    )  # fmt: skip
    network.add_subnet("s1", SYSTEM)
    network.add_ports(
        {
            "p1": ("compute:nova", P, "fa:16:3e:00:00:01"),
            "d1": ("network:dhcp", P, "fa:16:3e:00:00:02"),
        },
        SYSTEM,
    )
    network.update({"name": "m", "shared": True}, SYSTEM)
    network.remove_ports(["p1"], SYSTEM)
    _replays(app, network)
    assert network.ports_in_use() == []
    network.delete(SYSTEM)
    subnet = Subnet(
        project_id=P, network_id=str(network.id), name="s", description="", ip_version=4,
        cidr="10.0.0.0/24", gateway_ip="10.0.0.1",
        allocation_pools=[AllocationPool("10.0.0.2", "10.0.0.254")], enable_dhcp=True,
        dns_nameservers=[], host_routes=[HostRoute("10.9.0.0/16", "10.0.0.9")],
        ipv6_ra_mode="", ipv6_address_mode="", subnetpool_id="", actor=SYSTEM,
    )  # fmt: skip
    subnet.allocate("10.0.0.2", "p1", SYSTEM)
    new_pools = [AllocationPool("10.0.0.4", "10.0.0.254")]
    subnet.update(
        {
            "dns_nameservers": ["192.0.2.53"],
            "gateway_ip": "10.0.0.3",
            "allocation_pools": new_pools,
        },
        SYSTEM,
    )
    subnet.release("10.0.0.2", "p1", SYSTEM)
    _replays(app, subnet)
    pool = SegmentPool(network_type="vxlan", physical_network="", actor=SYSTEM)
    pool.take(pool.choose(), "n1", SYSTEM)
    pool.take(pool.choose(), "n2", SYSTEM)
    pool.release(1, "n1", SYSTEM)
    assert pool.choose() == 3  # past the last taken: a freed id waits its turn
    _replays(app, pool)


def test_a_router_and_floating_ip_replay_the_same() -> None:
    app = _app()
    router = Router(project_id=P, name="r", description="", admin_state_up=True, actor=SYSTEM)
    router.set_gateway("ext", "gw-port", True, [FixedIp("es", "198.51.100.10")], SYSTEM)
    router.add_interface("leg-1", "s1", "10.0.0.0/24", "10.0.0.1", SYSTEM)
    with pytest.raises(InvalidInput, match="overlaps"):
        router.add_interface("leg-2", "s2", "10.0.0.128/25", "10.0.0.129", SYSTEM)
    router.set_routes([HostRoute("10.9.0.0/16", "10.0.0.9")], SYSTEM)
    router.route_floating_ip("f1", "198.51.100.20", "10.0.0.5", "p1", "s1", SYSTEM)
    router.change_snat(False, SYSTEM)
    _replays(app, router)
    with pytest.raises(Conflict):
        router.clear_gateway(SYSTEM)  # a floating IP goes through it
    router.unroute_floating_ip("f1", SYSTEM)
    router.set_routes([], SYSTEM)
    router.remove_interface("leg-1", SYSTEM)
    assert router.clear_gateway(SYSTEM) == "gw-port"
    router.delete(SYSTEM)
    _replays(app, router)
    fip = FloatingIP(
        project_id=P, floating_network_id="ext", subnet_id="es",
        floating_ip_address="198.51.100.20", description="", actor=SYSTEM,
    )  # fmt: skip
    fip.associate("p1", "10.0.0.5", "r1", SYSTEM)
    fip.report_status("ACTIVE", SYSTEM)
    fip.update_description("d", SYSTEM)
    fip.disassociate(SYSTEM)
    fip.delete(SYSTEM)
    _replays(app, fip)


def test_a_security_group_replays_the_same_and_refuses_an_equal_rule() -> None:
    app = _app()
    group = SecurityGroup(
        project_id=P, name="web", description="", is_default=False, rules=[], actor=SYSTEM
    )
    rule = checked_rule("r1", "ingress", "IPv4", "tcp", 80, 80, "10.0.0.0/8", "", "")
    group.add_rule(rule, SYSTEM)
    same = SecurityGroupRule("r2", "ingress", "IPv4", "6", 80, 80, "10.0.0.0/8", "", "other")
    with pytest.raises(Conflict, match="already exists"):
        group.add_rule(same, SYSTEM)
    group.change_members({"p1": ["10.0.0.5"]}, [], SYSTEM)
    group.update("web2", "d", SYSTEM)
    _replays(app, group)
    with pytest.raises(Conflict, match="in use"):
        group.delete(SYSTEM)
    group.change_members({}, ["p1"], SYSTEM)
    group.remove_rule("r1", SYSTEM)
    group.delete(SYSTEM)
    _replays(app, group)


def test_a_copy_of_a_hot_aggregate_is_equal_and_changes_apart_from_it() -> None:
    """The repository's cache hands out copies: a change to one (as a
    command makes before its save fails) must not reach the cached one."""
    import copy

    app = _app()
    group = SecurityGroup(
        project_id=P, name="web", description="", is_default=False, rules=[], actor=SYSTEM
    )
    group.change_members({"p1": ["10.0.0.5"], "p2": ["10.0.0.6"]}, [], SYSTEM)
    app.save(group)
    cached = app.repository.get(group.id)
    copied = copy.deepcopy(cached)
    assert type(copied) is SecurityGroup and _state(copied) == _state(cached)

    copy.deepcopy(cached).members["p2"].append("10.0.0.8")  # even a list inside is its own
    copied.change_members({"p3": ["10.0.0.7"]}, ["p1"], SYSTEM)
    copied.add_rule(checked_rule("r1", "ingress", "IPv4", "tcp", 22, 22, "", "", ""), SYSTEM)

    assert cached.members == {"p1": ["10.0.0.5"], "p2": ["10.0.0.6"]}
    assert cached.rules == [] and cached.version == 2
    assert not cached.__dict__.get("_pending_events")
    _replays(app, copied)  # and it saves as any loaded aggregate does


def _subnet() -> Subnet:
    """A /24 with its pool from .2, on no network the test loads."""
    return Subnet(
        project_id=P, network_id="n1", name="s", description="", ip_version=4,
        cidr="10.0.0.0/24", gateway_ip="10.0.0.1",
        allocation_pools=[AllocationPool("10.0.0.2", "10.0.0.254")], enable_dhcp=True,
        dns_nameservers=[], host_routes=[], ipv6_ra_mode="", ipv6_address_mode="",
        subnetpool_id="", actor=SYSTEM,
    )  # fmt: skip


def test_a_subnet_gives_back_many_addresses_in_one_event_skipping_those_held_by_others() -> None:
    app = _app()
    subnet = _subnet()
    for n, holder in ((10, "p1"), (11, "p2"), (12, "p3")):
        subnet.allocate(f"10.0.0.{n}", holder, SYSTEM)
    app.save(subnet)
    subnet.release_many({"10.0.0.10": "p1", "10.0.0.11": "p2", "10.0.0.12": "not-p3"}, SYSTEM)
    (event,) = subnet.collect_events()
    assert isinstance(event, Subnet.AddressesReleased)
    assert event.addresses == {"10.0.0.10": "p1", "10.0.0.11": "p2"}
    assert subnet.allocations == {"10.0.0.12": "p3"}
    app.events.put([event])
    assert _state(app.repository.get(subnet.id)) == _state(subnet)


def test_a_port_its_spawn_plugs_is_bound_and_active_in_one_event_a_bound_one_in_two() -> None:
    app = _app()
    port = _port()
    app.save(port)
    port.plug_with_spawn("compute-1", SYSTEM)
    assert [type(e).__name__ for e in port.pending_events] == ["BoundAndPlugged"]
    assert (port.host, port.status) == ("compute-1", "ACTIVE")
    _replays(app, port)
    moved = _port()
    moved.bind("compute-1", SYSTEM)
    moved.collect_events()
    moved.plug_with_spawn("compute-2", SYSTEM)  # bound elsewhere before: a move
    assert [type(e).__name__ for e in moved.collect_events()] == ["Unbound", "Bound", "Plugged"]
    assert (moved.host, moved.status) == ("compute-2", "ACTIVE")
    with pytest.raises(InvalidInput):
        _port().plug_with_spawn("", SYSTEM)


def test_a_subnet_takes_many_addresses_in_one_event_and_refuses_one_held_by_another() -> None:
    app = _app()
    subnet = _subnet()
    subnet.allocate("10.0.0.2", "p0", SYSTEM)
    app.save(subnet)
    with pytest.raises(Conflict, match="in use"):
        subnet.allocate_many({"10.0.0.3": "p1", "10.0.0.2": "p2"}, SYSTEM)
    assert subnet.pending_events == []
    subnet.allocate_many({"10.0.0.4": "p1", "10.0.0.3": "p2", "10.0.0.2": "p0"}, SYSTEM)
    (event,) = subnet.pending_events
    assert isinstance(event, Subnet.AddressesAllocated)
    assert event.addresses == {"10.0.0.4": "p1", "10.0.0.3": "p2"}  # p0's was held already
    assert subnet.cursor == int(ipaddress.ip_address("10.0.0.3"))  # the last taken
    _replays(app, subnet)
