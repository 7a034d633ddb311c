"""Servers on networks, on the in-memory event store: the boot makes its
ports in its own save (a user's port taken as it is), refuses another
project's ids and an exhausted network up front, and the server's deletion
lets its ports go."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import pytest

from commands.app import CloudApp
from commands.catalog import CreateFlavor, RegisterHost, create_flavor, register_host
from commands.compute import claim_host, finish_deletes, finish_spawn
from commands.identity import CreateProject, create_project
from commands.network_floating_ips import FloatingIpSpec
from commands.network_ports import PortSpec
from commands.network_routers import GatewaySpec, RouterSpec
from commands.network_services import Made, NetworkCommands
from commands.network_subnets import SubnetSpec
from commands.networks import NetworkSpec
from commands.server_actions import delete_server
from commands.server_interfaces import attach_interface, detach_interface
from commands.servers import BootServer, ServerAction, boot_server, boot_servers
from domain.errors import Conflict, InvalidInput
from domain.floating_ip import FloatingIP
from domain.image import Image
from domain.instance import Instance
from domain.network_values import AllocationPool
from domain.port import Port
from domain.quota import Quota
from domain.subnet import Subnet
from domain.values import SYSTEM, Actor, NetworkRequest


@dataclass
class World:
    app: CloudApp
    net: NetworkCommands
    alice: Actor
    bob: Actor
    image: str
    network: str
    subnet: str
    public: str


def _actor(app: CloudApp, name: str, role: str = "member") -> Actor:
    receipt = create_project(CreateProject(name), app, SYSTEM)
    return Actor(f"user-{name}", receipt.id.hex, (role,), f"req-{name}")


@pytest.fixture
def world() -> World:
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    admin, alice, bob = _actor(app, "admin", "admin"), _actor(app, "alpha"), _actor(app, "beta")
    create_flavor(CreateFlavor("1", "m1.tiny", 1, 512, 1), app, admin)
    register_host(RegisterHost("compute-1", 16, 65536, 1000), app, admin)
    image = Image(
        owner=admin.project_id, name="i", disk_format="qcow2", container_format="bare",
        visibility="public", min_disk=0, min_ram=0, properties={}, actor=admin,
    )  # fmt: skip
    image.record_upload("md5", "sha512", "sha", 10, admin)
    app.save(image)
    net = NetworkCommands(app)
    spec = NetworkSpec(name="public", external=True, network_type="flat", physical_network="ext")
    public = str(net.create_networks([spec], admin).id)
    net.create_subnets([SubnetSpec(public, "198.51.100.0/24", enable_dhcp=False)], admin)
    network = str(net.create_networks([NetworkSpec(name="mine")], alice).id)
    pool = (AllocationPool("10.5.0.10", "10.5.0.13"),)  # the DHCP port takes one
    subnet = SubnetSpec(network, "10.5.0.0/24", allocation_pools=pool)
    subnet_id = str(net.create_subnets([subnet], alice).id)
    return World(app, net, alice, bob, str(image.id), network, subnet_id, public)


def _boot(world: World, actor: Actor, *requests: NetworkRequest, **kwargs: int) -> UUID:
    cmd = BootServer("vm", "1", world.image, tuple(requests), **kwargs)  # type: ignore[arg-type]
    return boot_server(cmd, world.app, actor).id


def _get(world: World, ident: object) -> object:
    return world.app.repository.get(UUID(str(ident)))


def _position(world: World) -> int:
    return world.app.recorder.max_notification_id() or 0


def test_a_boot_makes_a_port_on_its_network_in_the_same_save(world: World) -> None:
    before = _position(world)
    server = _boot(world, world.alice, NetworkRequest(network_id=world.network))
    instance = _get(world, server)
    assert isinstance(instance, Instance)
    (port_id,) = instance.port_ids
    port = _get(world, port_id)
    assert isinstance(port, Port)
    assert (port.device_id, port.device_owner, port.delete_with_device) == (
        str(server), "compute:nova", True,
    )  # fmt: skip
    subnet = _get(world, world.subnet)
    assert (
        isinstance(subnet, Subnet) and subnet.allocations[port.fixed_ips[0].ip_address] == port_id
    )
    quota = world.app.repository.get(Quota.create_id(world.alice.project_id))
    assert quota.allocations[port_id] == {"port": 1}
    topics = {
        n.topic.rsplit(":", 1)[1] for n in world.app.recorder.select_notifications(before + 1, 100)
    }
    # The Requested event names the port; no second event lists it.
    assert {"Instance.Requested", "Port.Created"} <= topics
    assert "Interfacing.PortsAssigned" not in topics
    (requested,) = world.app.repository.event_store.get(server, lte=1)
    assert [r.port_id for r in requested.networks] == [port_id]


def _topics_since(world: World, position: int) -> list[str]:
    found = world.app.recorder.select_notifications(position + 1, 1000)
    return [n.topic.rsplit(":", 1)[1] for n in found]


def test_a_server_and_its_ports_hold_quota_in_one_event_and_give_it_back_in_one(
    world: World,
) -> None:
    """A boot reserves the server's share and its new ports' together; the
    host's deletion of a batch of such servers gives back all of theirs,
    servers and ports, in one event (one quota event each way, not one per
    server and one per port), and each subnet's addresses in one."""
    quota_id = Quota.create_id(world.alice.project_id)
    second = str(world.net.create_networks([NetworkSpec(name="second")], world.alice).id)
    world.net.create_subnets([SubnetSpec(second, "10.6.0.0/24")], world.alice)
    in_use = world.app.repository.get(quota_id).in_use
    before = _position(world)
    on_both = (NetworkRequest(network_id=world.network), NetworkRequest(network_id=second))
    servers = [_boot(world, world.alice, *on_both) for _ in range(2)]  # two ports each
    assert _topics_since(world, before).count("Quota.ManyReserved") == 2
    assert not {"Quota.Reserved"} & set(_topics_since(world, before))
    held = world.app.repository.get(quota_id)
    assert held.in_use["port"] == in_use.get("port", 0) + 4
    assert held.in_use["instances"] == in_use["instances"] + 2

    for server in servers:
        assert claim_host(world.app, server, "compute-1")
        finish_spawn(world.app, server)
        delete_server(ServerAction(str(server)), world.app, world.alice)
    deleting = [_get(world, s) for s in servers]
    before = _position(world)
    assert finish_deletes(world.app, deleting) == servers  # type: ignore[arg-type]

    topics = _topics_since(world, before)
    assert [t for t in topics if t.startswith("Quota.")] == ["Quota.ManyReleased"]
    assert [t for t in topics if t.startswith("Subnet.")] == ["Subnet.AddressesReleased"] * 2
    for subnet_id in (world.subnet, *_all_subnets_of(world, second)):
        subnet = _get(world, subnet_id)
        assert isinstance(subnet, Subnet)
        assert not {p for s in deleting for p in s.port_ids} & subnet.holders()  # type: ignore[attr-defined]
    assert world.app.repository.get(quota_id).in_use == {**in_use, "port": in_use.get("port", 0)}
    assert all(isinstance(p := _get(world, i), Port) and p.deleted for s in deleting
               for i in s.port_ids)  # type: ignore[attr-defined]  # fmt: skip


def test_a_batch_of_boots_takes_its_ports_addresses_in_one_event_each_once(
    world: World,
) -> None:
    before = _position(world)
    request = (NetworkRequest(network_id=world.network),)
    boots = [(BootServer(f"vm{n}", "1", world.image, request), world.alice) for n in range(3)]
    outcomes = boot_servers(boots, world.app)
    assert [type(o).__name__ for o in outcomes] == ["Receipt"] * 3
    topics = _topics_since(world, before)
    assert [t for t in topics if t.startswith("Subnet.")] == ["Subnet.AddressesAllocated"]
    subnet = _get(world, world.subnet)
    ports = [p for o in outcomes for p in _get(world, o.id).port_ids]  # type: ignore[union-attr]
    assert isinstance(subnet, Subnet) and len(ports) == 3
    held = {address: holder for address, holder in subnet.allocations.items() if holder in ports}
    assert sorted(held.values()) == sorted(ports)  # three addresses, one per port


def _all_subnets_of(world: World, network_id: str) -> list[str]:
    network = _get(world, network_id)
    return list(network.subnet_ids)  # type: ignore[attr-defined]


def test_another_projects_network_or_port_is_refused_and_nothing_saved(world: World) -> None:
    (port,) = world.net.create_ports([(PortSpec(world.network), world.alice)])
    assert isinstance(port, Made)
    before = _position(world)
    for request in (NetworkRequest(network_id=world.network), NetworkRequest(port_id=str(port.id))):
        with pytest.raises(InvalidInput, match="could not be found"):
            _boot(world, world.bob, request)
    with pytest.raises(InvalidInput, match="could not be found"):
        _boot(world, world.alice, NetworkRequest(network_id="00000000-0000-4000-8000-000000000000"))
    assert _position(world) == before


def test_a_port_in_use_is_refused(world: World) -> None:
    server = _boot(world, world.alice, NetworkRequest(network_id=world.network))
    instance = _get(world, server)
    assert isinstance(instance, Instance)
    with pytest.raises(Conflict, match="in use"):
        _boot(world, world.alice, NetworkRequest(port_id=instance.port_ids[0]))


def test_a_boot_the_network_has_no_addresses_for_is_refused_up_front(world: World) -> None:
    before = _position(world)
    with pytest.raises(Conflict, match="No more IP addresses"):
        _boot(
            world, world.alice, NetworkRequest(network_id=world.network), min_count=4, max_count=4
        )
    assert _position(world) == before
    # As many as there are addresses for, when fewer will do.
    first = _boot(
        world, world.alice, NetworkRequest(network_id=world.network), min_count=1, max_count=5
    )
    assert isinstance(_get(world, first), Instance)
    instances = [r for r in _all(world, Instance) if not r.is_deleted]
    assert len(instances) == 3


def _all(world: World, kind: type) -> list:  # type: ignore[type-arg]
    ids = {n.originator_id for n in world.app.recorder.select_notifications(1, 10000)}
    found = [world.app.repository.get(i) for i in ids]
    return [a for a in found if isinstance(a, kind)]


def test_one_refused_boot_takes_nothing_from_the_others_of_its_batch(world: World) -> None:
    good = (
        BootServer("a", "1", world.image, (NetworkRequest(network_id=world.network),)),
        world.alice,
    )
    bad = (
        BootServer("b", "1", world.image, (NetworkRequest(network_id=world.public),)),
        world.alice,
    )
    outcomes = boot_servers([good, bad, good], world.app)
    assert isinstance(outcomes[1], InvalidInput)
    assert [type(o).__name__ for o in outcomes] == ["Receipt", "InvalidInput", "Receipt"]


def test_deleting_a_server_deletes_its_ports_disassociates_their_floating_ips_and_keeps_a_users(
    world: World,
) -> None:
    router = world.net.create_router(
        RouterSpec("r", gateway=GatewaySpec(world.public)), world.alice
    )
    world.net.add_router_interface(str(router.id), world.subnet, "", world.alice)
    (own,) = world.net.create_ports([(PortSpec(world.network, name="kept"), world.alice)])
    assert isinstance(own, Made)
    server = _boot(
        world,
        world.alice,
        NetworkRequest(network_id=world.network),
        NetworkRequest(port_id=str(own.id)),
    )
    instance = _get(world, server)
    assert isinstance(instance, Instance)
    made_port = instance.port_ids[0]
    (fip,) = world.net.create_floating_ips([(FloatingIpSpec(world.public), world.alice)])
    assert isinstance(fip, Made)
    world.net.update_floating_ip(str(fip.id), made_port, "", None, world.alice)

    delete_server(ServerAction(str(server)), world.app, world.alice)

    gone = _get(world, made_port)
    kept = _get(world, own.id)
    floating = _get(world, fip.id)
    assert isinstance(gone, Port) and gone.deleted
    assert isinstance(kept, Port) and not kept.deleted and kept.device_id == ""
    assert isinstance(floating, FloatingIP) and floating.port_id == "" and not floating.deleted
    quota = world.app.repository.get(Quota.create_id(world.alice.project_id))
    assert made_port not in quota.allocations and str(own.id) in quota.allocations


def test_a_port_is_attached_to_a_running_server_bound_to_its_host_and_detached(
    world: World,
) -> None:
    server = _boot(world, world.alice)
    assert claim_host(world.app, server, "compute-1")
    finish_spawn(world.app, server)
    made = attach_interface(world.app, str(server), "", world.network, "", world.alice)
    port = _get(world, made.id)
    assert isinstance(port, Port) and port.host == "compute-1" and port.device_id == str(server)
    instance = _get(world, server)
    assert isinstance(instance, Instance) and instance.port_ids == [str(made.id)]
    detach_interface(world.app, str(server), str(made.id), world.alice)
    port = _get(world, made.id)
    assert isinstance(port, Port) and port.deleted  # made for the server: it goes
    instance = _get(world, server)
    assert isinstance(instance, Instance) and instance.port_ids == []
