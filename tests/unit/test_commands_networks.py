"""The networking commands on the in-memory event store: what each saves,
what it refuses (and that a refusal saves nothing), and what another
project's ids get (the same 404 as unknown ones)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID, uuid4

import pytest

from commands.app import CloudApp
from commands.identity import CreateProject, create_project
from commands.network_floating_ips import FloatingIpSpec
from commands.network_port_changes import PortUpdate
from commands.network_ports import FixedIpRequest, PortSpec
from commands.network_routers import GatewaySpec, RouterSpec
from commands.network_security import RuleSpec
from commands.network_services import Made, NetworkCommands
from commands.network_subnets import SubnetSpec
from commands.networks import NetworkSpec
from domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, QuotaExceeded
from domain.floating_ip import FloatingIP
from domain.names import NameClaim
from domain.network import Network, SegmentPool
from domain.network_values import AllocationPool
from domain.port import Port
from domain.quota import Quota
from domain.router import Router
from domain.security_group import SecurityGroup, default_group_id
from domain.subnet import Subnet
from domain.values import SYSTEM, Actor


@dataclass
class World:
    app: CloudApp
    net: NetworkCommands
    admin: Actor
    alice: Actor
    bob: Actor
    public: str
    public_subnet: str


def _actor(app: CloudApp, name: str, role: str = "member") -> Actor:
    receipt = create_project(CreateProject(name), app, SYSTEM)
    return Actor(f"user-{name}", receipt.id.hex, (role,), f"req-{name}")


@pytest.fixture
def world() -> World:
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    admin, alice, bob = _actor(app, "admin", "admin"), _actor(app, "alpha"), _actor(app, "beta")
    net = NetworkCommands(app)
    spec = NetworkSpec(name="public", external=True, network_type="flat", physical_network="ext")
    public = net.create_networks([spec], admin).id
    pool = (AllocationPool("198.51.100.10", "198.51.100.13"),)
    subnet = SubnetSpec(str(public), "198.51.100.0/24", allocation_pools=pool, enable_dhcp=False)
    public_subnet = net.create_subnets([subnet], admin).id
    return World(app, net, admin, alice, bob, str(public), str(public_subnet))


def _get(world: World, kind: type, ident: object) -> object:
    found = world.app.repository.get(UUID(str(ident)))
    assert isinstance(found, kind)
    return found


def _position(world: World) -> int:
    return world.app.recorder.max_notification_id() or 0


def _network_with_subnet(world: World, actor: Actor, cidr: str = "10.1.0.0/24") -> tuple[str, str]:
    network = world.net.create_networks([NetworkSpec(name="n")], actor).id
    subnet = world.net.create_subnets([SubnetSpec(str(network), cidr)], actor).id
    return str(network), str(subnet)


def _port(world: World, actor: Actor, network: str, **kwargs: object) -> Port:
    (made,) = world.net.create_ports([(PortSpec(network, **kwargs), actor)])  # type: ignore[arg-type]
    assert isinstance(made, Made), made
    port = _get(world, Port, made.id)
    assert isinstance(port, Port)
    return port


# Networks ------------------------------------------------------------------


def test_a_network_gets_a_vni_of_its_own_from_the_pool(world: World) -> None:
    first = world.net.create_networks([NetworkSpec(name="a")], world.alice).id
    second = world.net.create_networks([NetworkSpec(name="b")], world.bob).id
    a, b = _get(world, Network, first), _get(world, Network, second)
    assert isinstance(a, Network) and isinstance(b, Network)
    assert a.segment.network_type == "vxlan" and a.mtu == 1450
    assert a.segment.segmentation_id != b.segment.segmentation_id
    pool = world.app.repository.get(SegmentPool.create_id("vxlan", ""))
    assert pool.held == {
        str(a.segment.segmentation_id): str(a.id),
        str(b.segment.segmentation_id): str(b.id),
    }


def test_a_taken_segmentation_id_is_refused(world: World) -> None:
    spec = NetworkSpec(name="v", network_type="vxlan", segmentation_id=77)
    world.net.create_networks([spec], world.admin)
    before = _position(world)
    with pytest.raises(Conflict, match="in use"):
        world.net.create_networks([spec], world.admin)
    assert _position(world) == before


def test_deleting_a_network_deletes_its_subnets_and_dhcp_port_and_frees_its_vni(
    world: World,
) -> None:
    network, subnet = _network_with_subnet(world, world.alice)
    found = _get(world, Network, network)
    assert isinstance(found, Network)
    (dhcp,) = found.ports
    world.net.delete_network(network, world.alice)
    assert _get(world, Subnet, subnet).deleted  # type: ignore[attr-defined]
    assert _get(world, Port, dhcp).deleted  # type: ignore[attr-defined]
    pool = world.app.repository.get(SegmentPool.create_id("vxlan", ""))
    assert pool.held == {}
    quota = world.app.repository.get(Quota.create_id(world.alice.project_id))
    assert quota.in_use["network"] == quota.in_use["subnet"] == quota.in_use["port"] == 0


def test_a_network_with_a_port_is_in_use(world: World) -> None:
    network, _ = _network_with_subnet(world, world.alice)
    _port(world, world.alice, network)
    before = _position(world)
    with pytest.raises(Conflict, match="ports still in use") as refused:
        world.net.delete_network(network, world.alice)
    assert getattr(refused.value, "neutron_type", "") == "NetworkInUse"
    assert _position(world) == before


def test_another_projects_network_is_not_found_and_a_shared_one_not_theirs_to_change(
    world: World,
) -> None:
    network, _ = _network_with_subnet(world, world.alice)
    with pytest.raises(NotFound) as unknown:
        world.net.delete_network(str(uuid4()), world.bob)
    with pytest.raises(NotFound) as theirs:
        world.net.delete_network(network, world.bob)
    assert str(theirs.value).replace(network, "X") == str(unknown.value).split(" ", 1)[0] + (
        " X could not be found."
    )
    shared = world.net.create_networks([NetworkSpec(name="s", shared=True)], world.admin).id
    with pytest.raises(Forbidden):
        world.net.update_network(str(shared), {"name": "mine"}, world.bob)


# Subnets ---------------------------------------------------------------------


def test_subnets_of_one_network_may_not_overlap_but_of_two_networks_may(world: World) -> None:
    network, _ = _network_with_subnet(world, world.alice, "10.9.0.0/24")
    with pytest.raises(InvalidInput, match="overlaps with another subnet"):
        world.net.create_subnets([SubnetSpec(network, "10.9.0.0/25")], world.alice)
    _network_with_subnet(world, world.bob, "10.9.0.0/24")  # another tenant, same CIDR


def test_a_subnet_with_ports_is_in_use_but_its_dhcp_port_lets_it_go(world: World) -> None:
    network, subnet = _network_with_subnet(world, world.alice)
    port = _port(world, world.alice, network)
    with pytest.raises(Conflict, match="IP allocation"):
        world.net.delete_subnet(subnet, world.alice)
    world.net.delete_port(str(port.id), world.alice)
    world.net.delete_subnet(subnet, world.alice)
    assert _get(world, Network, network).ports == {}  # type: ignore[attr-defined]


# Ports -----------------------------------------------------------------------


def test_a_port_is_made_with_its_address_mac_group_and_quota_in_one_save(
    world: World,
) -> None:
    network, subnet = _network_with_subnet(world, world.alice)
    port = _port(world, world.alice, network, name="p")
    (fixed,) = port.fixed_ips
    found = _get(world, Subnet, subnet)
    assert isinstance(found, Subnet)
    assert found.allocations[fixed.ip_address] == str(port.id)
    assert port.mac_address.startswith("fa:16:3e:")
    on = _get(world, Network, network)
    assert isinstance(on, Network) and port.mac_address in on.macs_in_use()
    # The network holds the MAC: no claim of its own (an aggregate and two events a port).
    claim_id = NameClaim.create_id("mac", "", port.mac_address)
    assert world.app.repository.get_many([claim_id]) == {}
    assert port.security_group_ids == [str(default_group_id(world.alice.project_id))]
    group = world.app.repository.get(default_group_id(world.alice.project_id))
    assert group.members == {str(port.id): [fixed.ip_address]}
    quota = world.app.repository.get(Quota.create_id(world.alice.project_id))
    assert quota.allocations[str(port.id)] == {"port": 1}


def test_a_mac_in_use_is_refused_and_nothing_is_saved(world: World) -> None:
    network, _ = _network_with_subnet(world, world.alice)
    _port(world, world.alice, network, mac_address="FA:16:3E:00:00:01")
    before = _position(world)
    (refused,) = world.net.create_ports(
        [(PortSpec(network, mac_address="fa:16:3e:00:00:01"), world.alice)]
    )
    assert isinstance(refused, Conflict) and "mac address" in str(refused)
    assert _position(world) == before


def test_a_mac_is_unique_on_its_network_and_may_be_used_on_another_as_in_neutron(
    world: World,
) -> None:
    first, _ = _network_with_subnet(world, world.alice)
    second, _ = _network_with_subnet(world, world.alice, "10.2.0.0/24")
    made = [
        world.net.create_ports([(PortSpec(n, mac_address="fa:16:3e:00:00:07"), world.alice)])[0]
        for n in (first, second, first)
    ]
    assert [type(m).__name__ for m in made] == ["Made", "Made", "NeutronConflict"]
    gone = made[0]
    assert isinstance(gone, Made)
    world.net.delete_port(str(gone.id), world.alice)  # its MAC is free on its network again
    assert isinstance(_port(world, world.alice, first, mac_address="fa:16:3e:00:00:07"), Port)


def test_two_ports_asking_one_mac_in_one_batch_get_it_once(world: World) -> None:
    network, _ = _network_with_subnet(world, world.alice)
    spec = PortSpec(network, mac_address="fa:16:3e:00:00:08")
    outcomes = world.net.create_ports([(spec, world.alice), (spec, world.alice)])
    assert [type(o).__name__ for o in outcomes] == ["Made", "NeutronConflict"]


def test_two_ports_asking_one_address_in_one_batch_get_it_once(world: World) -> None:
    network, subnet = _network_with_subnet(world, world.alice)
    spec = PortSpec(network, fixed_ips=(FixedIpRequest(subnet, "10.1.0.50"),))
    before = _position(world)
    outcomes = world.net.create_ports([(spec, world.alice), (spec, world.alice)])
    made, refused = outcomes
    assert isinstance(made, Made)
    assert isinstance(refused, Conflict) and "10.1.0.50 is in use" in str(refused)
    held = _get(world, Subnet, subnet)
    assert isinstance(held, Subnet) and held.allocations["10.1.0.50"] == str(made.id)
    topics = [
        n.topic.rsplit(":", 1)[1] for n in world.app.recorder.select_notifications(before + 1, 100)
    ]
    assert topics.count("Port.Created") == 1


def test_a_mac_an_older_ports_claim_holds_is_not_given_to_a_new_port_on_its_network(
    world: World,
) -> None:
    """Ports made before networks held MACs kept theirs in a claim: on a
    network such a port is on, a claim still held keeps its MAC from new
    ports; on another network the MAC is free, as Neutron has it."""
    older, _ = _network_with_subnet(world, world.alice)
    other, _ = _network_with_subnet(world, world.alice, "10.2.0.0/24")
    network = _get(world, Network, older)
    assert isinstance(network, Network)
    holder = str(uuid4())
    # As stored then: the network lists the port without its MAC, a claim holds it.
    network._ports_added({holder: ["compute:nova", world.alice.project_id]}, SYSTEM)
    world.app.save(network, NameClaim("mac", "", "fa:16:3e:00:00:09", holder, SYSTEM))
    spec = PortSpec(older, mac_address="fa:16:3e:00:00:09")
    (refused,) = world.net.create_ports([(spec, world.alice)])
    assert isinstance(refused, Conflict) and "mac address" in str(refused)
    assert isinstance(_port(world, world.alice, other, mac_address="fa:16:3e:00:00:09"), Port)


def test_an_older_ports_claim_is_given_back_when_it_goes_even_once_relisted(
    world: World,
) -> None:
    """A port listed before networks held MACs holds a claim on its MAC;
    its deletion gives the claim back, even after its network listed it
    again with its MAC (a network that never had such ports reads none)."""
    network_id, _ = _network_with_subnet(world, world.alice)
    network = _get(world, Network, network_id)
    assert isinstance(network, Network) and not network.may_hold_mac_claims()
    port = _port(world, world.alice, network_id)
    network = _get(world, Network, network_id)
    assert isinstance(network, Network)
    holder = str(port.id)
    # As stored then: listed without its MAC, its MAC held by a claim.
    network._ports_added({holder: ["", world.alice.project_id]}, SYSTEM)
    claim = NameClaim("mac", "", port.mac_address, holder, SYSTEM)
    # ...and listed again since, with its MAC (a port update does that).
    network._ports_added({holder: ["", world.alice.project_id, port.mac_address]}, SYSTEM)
    assert network.may_hold_mac_claims() and len(network.ports[holder]) == 3
    world.app.save(network, claim)
    world.net.delete_port(holder, world.alice)
    released = _get(world, NameClaim, claim.id)
    assert isinstance(released, NameClaim) and released.holder_id == ""


def test_an_address_held_or_outside_the_subnet_is_refused(world: World) -> None:
    network, subnet = _network_with_subnet(world, world.alice)
    taken = _port(world, world.alice, network).fixed_ips[0].ip_address
    for address, error in (
        (taken, Conflict),
        ("10.2.0.5", InvalidInput),
        ("10.1.0.0", InvalidInput),
    ):
        (refused,) = world.net.create_ports(
            [(PortSpec(network, fixed_ips=(FixedIpRequest(subnet, address),)), world.alice)]
        )
        assert isinstance(refused, error), (address, refused)


def test_an_exhausted_pool_is_a_409_and_appends_nothing(world: World) -> None:
    network = world.net.create_networks([NetworkSpec(name="small")], world.alice).id
    pool = (AllocationPool("10.3.0.2", "10.3.0.3"),)
    spec = SubnetSpec(str(network), "10.3.0.0/29", allocation_pools=pool, enable_dhcp=False)
    world.net.create_subnets([spec], world.alice)
    outcomes = world.net.create_ports([(PortSpec(str(network)), world.alice)] * 3)
    assert [type(o).__name__ for o in outcomes] == ["Made", "Made", "NeutronConflict"]
    refused = outcomes[2]
    assert getattr(refused, "neutron_type", "") == "IpAddressGenerationFailure"
    before = _position(world)
    (again,) = world.net.create_ports([(PortSpec(str(network)), world.alice)])
    assert isinstance(again, Conflict) and _position(world) == before


def test_one_refused_port_of_a_batch_takes_nothing_from_the_others(world: World) -> None:
    network, subnet = _network_with_subnet(world, world.alice)
    bad = PortSpec(network, fixed_ips=(FixedIpRequest(subnet, "10.1.0.77"), FixedIpRequest("nope")))
    outcomes = world.net.create_ports(
        [(PortSpec(network), world.alice), (bad, world.alice), (PortSpec(network), world.alice)]
    )
    assert isinstance(outcomes[1], NotFound)
    made = [o for o in outcomes if isinstance(o, Made)]
    assert len(made) == 2
    found = _get(world, Subnet, subnet)
    assert isinstance(found, Subnet)
    assert "10.1.0.77" not in found.allocations
    assert len(found.allocations) == 3  # the DHCP port's and the two ports'


def test_another_projects_group_or_network_in_a_port_is_not_found(world: World) -> None:
    network, _ = _network_with_subnet(world, world.alice)
    bob_group = world.net.create_security_group("g", "", world.bob.project_id, world.bob).id
    (refused,) = world.net.create_ports(
        [(PortSpec(network, security_groups=(str(bob_group),)), world.alice)]
    )
    assert isinstance(refused, NotFound)
    (hidden,) = world.net.create_ports([(PortSpec(network), world.bob)])
    assert isinstance(hidden, NotFound)


def test_a_port_update_keeps_its_address_and_adds_one_from_another_subnet(world: World) -> None:
    network, first = _network_with_subnet(world, world.alice)
    second = world.net.create_subnets([SubnetSpec(network, "10.1.1.0/24")], world.alice).id
    port = _port(world, world.alice, network)
    (kept,) = port.fixed_ips
    both = (FixedIpRequest(first), FixedIpRequest(str(second)))
    world.net.update_port(str(port.id), {}, PortUpdate(fixed_ips=both), world.alice)
    changed = _get(world, Port, port.id)
    assert isinstance(changed, Port)
    assert changed.fixed_ips[0] == kept and changed.fixed_ips[1].subnet_id == str(second)
    world.net.update_port(
        str(port.id), {}, PortUpdate(fixed_ips=(FixedIpRequest(first),)), world.alice
    )
    dropped = _get(world, Subnet, second)
    assert isinstance(dropped, Subnet) and str(port.id) not in dropped.allocations.values()


# Routers and floating IPs ----------------------------------------------------


def _routed_port(world: World) -> tuple[Port, str, str]:
    network, subnet = _network_with_subnet(world, world.alice)
    router = world.net.create_router(
        RouterSpec("r", gateway=GatewaySpec(world.public)), world.alice
    )
    world.net.add_router_interface(str(router.id), subnet, "", world.alice)
    return _port(world, world.alice, network), str(router.id), subnet


def test_a_floating_ip_reaches_a_port_through_its_router_and_moves_off_it(world: World) -> None:
    port, router_id, subnet = _routed_port(world)
    (made,) = world.net.create_floating_ips([(FloatingIpSpec(world.public), world.alice)])
    assert isinstance(made, Made)
    world.net.update_floating_ip(str(made.id), str(port.id), "", None, world.alice)
    fip = _get(world, FloatingIP, made.id)
    router = _get(world, Router, router_id)
    assert isinstance(fip, FloatingIP) and isinstance(router, Router)
    assert (fip.port_id, fip.router_id) == (str(port.id), router_id)
    assert router.floating_ips[str(made.id)][1] == port.fixed_ips[0].ip_address
    with pytest.raises(Conflict, match="required by one or more floating IPs"):
        world.net.remove_router_interface(router_id, subnet, "", world.alice)
    world.net.delete_port(str(port.id), world.alice)  # disassociates it
    fip = _get(world, FloatingIP, made.id)
    assert isinstance(fip, FloatingIP) and fip.port_id == ""
    router = _get(world, Router, router_id)
    assert isinstance(router, Router) and router.floating_ips == {}


def test_a_port_no_router_reaches_gets_no_floating_ip(world: World) -> None:
    network, _ = _network_with_subnet(world, world.alice)
    port = _port(world, world.alice, network)
    (made,) = world.net.create_floating_ips([(FloatingIpSpec(world.public), world.alice)])
    assert isinstance(made, Made)
    with pytest.raises(NotFound, match="is not reachable"):
        world.net.update_floating_ip(str(made.id), str(port.id), "", None, world.alice)


def test_a_router_with_an_interface_is_in_use_and_overlapping_legs_are_refused(
    world: World,
) -> None:
    _, router_id, _ = _routed_port(world)
    with pytest.raises(Conflict) as refused:
        world.net.delete_router(router_id, world.alice)
    assert getattr(refused.value, "neutron_type", "") == "RouterInUse"
    _, overlapping = _network_with_subnet(world, world.alice, "10.1.0.0/25")
    with pytest.raises(InvalidInput, match="overlaps"):
        world.net.add_router_interface(router_id, overlapping, "", world.alice)


def test_floating_ips_run_out_with_the_pool_and_quota_counts_them(world: World) -> None:
    outcomes = world.net.create_floating_ips([(FloatingIpSpec(world.public), world.alice)] * 5)
    made = [o for o in outcomes if isinstance(o, Made)]
    assert len(made) == 4 and isinstance(outcomes[4], Conflict)
    addresses = {_get(world, FloatingIP, m.id).floating_ip_address for m in made}  # type: ignore[attr-defined]
    assert addresses == {f"198.51.100.{n}" for n in range(10, 14)}
    quota = world.app.repository.get(Quota.create_id(world.alice.project_id))
    assert quota.in_use["floatingip"] == 4


def test_the_floating_ip_quota_is_enforced_in_the_same_save(world: World) -> None:
    world.app.save(_limited(world, world.alice.project_id, floatingip=1))
    outcomes = world.net.create_floating_ips([(FloatingIpSpec(world.public), world.alice)] * 2)
    assert isinstance(outcomes[0], Made) and isinstance(outcomes[1], QuotaExceeded)


def _limited(world: World, project: str, **limits: int) -> Quota:
    quota: Quota = world.app.repository.get(Quota.create_id(project))
    quota.set_limits(limits, SYSTEM)
    return quota


# Security groups -----------------------------------------------------------


def test_the_default_group_is_made_once_with_neutrons_rules(world: World) -> None:
    first = world.net.ensure_default_group(world.alice.project_id, world.alice)
    again = world.net.ensure_default_group(world.alice.project_id, world.alice)
    assert first.id == again.id == default_group_id(world.alice.project_id)
    group = _get(world, SecurityGroup, first.id)
    assert isinstance(group, SecurityGroup)
    shape = sorted((r.direction, r.ethertype, r.remote_group_id) for r in group.rules)
    me = str(group.id)
    assert shape == [("egress", "IPv4", ""), ("egress", "IPv6", ""), ("ingress", "IPv4", me),
                     ("ingress", "IPv6", me)]  # fmt: skip


def test_rules_are_checked_as_neutron_checks_them(world: World) -> None:
    group = str(world.net.create_security_group("web", "", world.alice.project_id, world.alice).id)
    tcp, icmp = {"protocol": "tcp"}, {"protocol": "icmp"}
    order = "port_range_min must be <= port_range_max"
    cases: list[tuple[dict[str, object], str]] = [
        ({**tcp, "port_range_min": -16, "port_range_max": 80}, "Invalid value for port -16"),
        ({**tcp, "port_range_min": 80, "port_range_max": 79}, order),
        ({**tcp, "port_range_min": None, "port_range_max": 6}, order),
        ({**icmp, "port_range_min": 1, "port_range_max": 256}, "Invalid value for ICMP code"),
        (
            {**icmp, "port_range_min": None, "port_range_max": 6},
            "ICMP type (port-range-min) is missing",
        ),
        ({**icmp, "port_range_min": 300, "port_range_max": 1}, "Invalid value for ICMP type"),
        ({"protocol": "bad_protocol_name"}, "not supported"),
        ({"ethertype": "bad_ethertype"}, "not supported"),
        ({"remote_ip_prefix": "192.168.1.1/33"}, "Invalid CIDR"),
        ({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}, "Conflicting value ethertype"),
    ]
    for kwargs, message in cases:
        spec = RuleSpec(group, direction="ingress", **kwargs)  # type: ignore[arg-type]
        with pytest.raises(DomainError, match=re.escape(message)):
            world.net.create_security_group_rule(spec, world.alice)


def test_a_duplicate_rule_is_409_and_a_remote_group_of_another_project_404(world: World) -> None:
    group = str(world.net.create_security_group("web", "", world.alice.project_id, world.alice).id)
    spec = RuleSpec(group, "ingress", "IPv4", "tcp", 66, 67)
    world.net.create_security_group_rule(spec, world.alice)
    with pytest.raises(Conflict, match="already exists"):
        world.net.create_security_group_rule(spec, world.alice)
    bobs = str(world.net.create_security_group("x", "", world.bob.project_id, world.bob).id)
    for remote in (bobs, "bad_group_id", str(uuid4())):
        with pytest.raises(NotFound):
            world.net.create_security_group_rule(
                RuleSpec(group, "ingress", "IPv4", "tcp", remote_group_id=remote), world.alice
            )


def test_a_group_in_use_is_409_and_a_group_named_default_is_refused(world: World) -> None:
    network, _ = _network_with_subnet(world, world.alice)
    group = str(world.net.create_security_group("web", "", world.alice.project_id, world.alice).id)
    _port(world, world.alice, network, security_groups=(group,))
    with pytest.raises(Conflict, match="in use"):
        world.net.delete_security_group(group, world.alice)
    with pytest.raises(Conflict, match="Default security group already exists"):
        world.net.create_security_group("default", "", world.alice.project_id, world.alice)
