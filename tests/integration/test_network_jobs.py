"""The network workers on the pipeline (real PostgreSQL, Redis, relay; every
worker in this process, fake drivers): a server booted on `private` has its
port bound and plugged by its host as it spawns (tap, filter; one job, no
network queue hop) with its lease on the network node, and its guest an
interface per port; a port that cannot be plugged fails its server;
a deleted server's guest goes first, then its ports; security group
changes reach running ports on every host; os-interface hot-plugs through
the host's network queue."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import pytest
from helpers import rows
from network_plant import HOSTS, NetworkPlant, network_plant
from redis import Redis
from rq.job import Job
from rq.registry import FinishedJobRegistry

from commands.network_security import RuleSpec
from commands.server_interfaces import attach_interface, detach_interface
from commands.servers import BootServer
from domain.values import NetworkRequest, VmState
from workers.drivers.errors import PermanentDriverError
from workers.drivers.fake_hypervisor import FakeHypervisor
from workers.drivers.fake_network import FakeDhcp, FakeFirewall, FakePorts
from workers.drivers.hypervisor import DomainSpec
from workers.drivers.network_types import tap_name
from workers.jobs.domain_spec import domain_name
from workers.jobs.network_context import NETWORK_NODE
from workers.resources.instance import COMPUTE
from workers.resources.network import NETWORK


@pytest.fixture
def plant(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[NetworkPlant]:
    with network_plant(database_url, redis_url, tmp_path) as built:
        yield built


def _ports(plant: NetworkPlant, host: str) -> FakePorts:
    found = plant.networks[host].drivers.ports
    assert isinstance(found, FakePorts)
    return found


def _firewall(plant: NetworkPlant, host: str) -> FakeFirewall:
    found = plant.networks[host].drivers.firewall
    assert isinstance(found, FakeFirewall)
    return found


def _dhcp(plant: NetworkPlant) -> FakeDhcp:
    found = plant.networks[NETWORK_NODE].drivers.dhcp
    assert isinstance(found, FakeDhcp)
    return found


def _hypervisor(plant: NetworkPlant, host: str) -> FakeHypervisor:
    found = plant.computes[host].hypervisor
    assert isinstance(found, FakeHypervisor)
    return found


def _kinds_relayed(plant: NetworkPlant) -> set[str]:
    """The kinds of every item the hosts' network queues have run."""
    redis = Redis.from_url(plant.redis_url)
    kinds = set()
    for host in HOSTS:
        registry = FinishedJobRegistry(NETWORK.queue(host), connection=redis)
        for job in Job.fetch_many(registry.get_job_ids(), connection=redis):
            if job is not None:
                kinds |= {kind for kind, _ in job.args[1]}
    return kinds


def _scheduled(plant: NetworkPlant, name: str) -> tuple[UUID, str]:
    """A server booted and placed on a host, which has not spawned it yet."""
    server = plant.boot(name)
    plant.pump(skip=tuple(COMPUTE.queue(h) for h in HOSTS))
    host = plant.cloud.instance(server).host
    assert host is not None
    return server, host


def _booted(plant: NetworkPlant, name: str = "vm") -> tuple[UUID, str]:
    server = plant.boot(name)
    plant.pump()
    instance = plant.cloud.instance(server)
    assert instance.vm_state == VmState.ACTIVE, instance.fault
    assert instance.host is not None
    return server, instance.host


def test_a_server_on_private_has_its_port_plugged_by_its_host_as_it_spawns(
    plant: NetworkPlant,
) -> None:
    server = plant.boot("vm")
    compute_queues = tuple(COMPUTE.queue(h) for h in HOSTS)
    plant.pump(skip=compute_queues)  # scheduled, no host has spawned it yet
    instance = plant.cloud.instance(server)
    assert instance.host in HOSTS
    assert (instance.vm_state, instance.task_state) == (VmState.BUILDING, "spawning")
    (port,) = plant.ports_of(server)
    assert (port.host, port.status) == ("", "DOWN")  # bound by its host as it spawns
    assert all(_ports(plant, h).list_ports() == [] for h in HOSTS)

    before = _kinds_relayed(plant)
    plant.pump()

    instance = plant.cloud.instance(server)
    assert instance.vm_state == VmState.ACTIVE
    (port,) = plant.ports_of(server)
    assert (port.host, port.status) == (instance.host, "ACTIVE")
    # The spawn plugged it: no plug job went through the host's network queue.
    assert "network.plug" not in _kinds_relayed(plant) - before
    host = instance.host
    assert host is not None
    assert [p.port_id for p in _ports(plant, host).list_ports()] == [str(port.id)]
    other = next(h for h in HOSTS if h != host)
    assert _ports(plant, other).list_ports() == []
    assert [f.port_id for f in _firewall(plant, host).list_filters()] == [str(port.id)]
    spec = _hypervisor(plant, host).defined_spec(domain_name(server))
    assert spec is not None
    assert [(i.tap, i.mac) for i in spec.interfaces] == [(tap_name(str(port.id)), port.mac_address)]
    (service,) = _dhcp(plant).list_services()
    leases = {h.mac: h.ip for h in service.hosts}
    assert leases == {port.mac_address: port.fixed_ips[0].ip_address}
    assert service.metadata  # the network's metadata proxy serves beside it
    assert [p for p in plant.pending() if p.startswith("network.")] == []


def test_a_server_with_two_ports_spawns_once_both_are_plugged_with_both_in_its_guest(
    plant: NetworkPlant,
) -> None:
    private = NetworkRequest(network_id=plant.ids["private"])
    cmd = BootServer("vm-two", "1", plant.cloud.image_id, (private, private))
    server = plant.cloud.services.boot_server(cmd, plant.cloud.member).id

    plant.pump()

    instance = plant.cloud.instance(server)
    assert instance.vm_state == VmState.ACTIVE, instance.fault
    ports = plant.ports_of(server)
    assert [p.status for p in ports] == ["ACTIVE", "ACTIVE"]
    assert instance.host is not None
    spec = _hypervisor(plant, instance.host).defined_spec(domain_name(server))
    assert spec is not None
    assert [i.mac for i in spec.interfaces] == [p.mac_address for p in ports]


def test_a_port_that_cannot_be_plugged_fails_its_server_and_frees_quota_and_claim(
    plant: NetworkPlant,
) -> None:
    server, host = _scheduled(plant, "doomed")
    _ports(plant, host).fail_next(PermanentDriverError("no such segment kind here"))
    plant.pump()
    instance = plant.cloud.instance(server)
    assert instance.vm_state == VmState.ERROR
    assert instance.fault is not None
    assert instance.fault["message"] == "Build failed: Failed to plug the server's network ports."
    assert "no such segment kind" not in str(instance.fault["message"])  # admins only
    assert "no such segment kind" in str(instance.fault["details"])
    assert _hypervisor(plant, host).list_domains() == []
    assert str(server) not in plant.cloud.quota().allocations
    assert all(str(server) not in plant.cloud.host(h).claims for h in HOSTS)
    assert all(_ports(plant, h).list_ports() == [] for h in HOSTS)  # nothing half made


def test_deleting_a_server_removes_its_guest_then_its_port_tap_filter_and_lease(
    plant: NetworkPlant,
) -> None:
    server, host = _booted(plant)
    (port,) = plant.ports_of(server)
    plant.cloud.action("delete", server)
    still = plant.cloud.app.repository.get(port.id)
    assert not still.deleted and still.status == "ACTIVE"  # nothing unplugged under the guest

    plant.pump()

    assert plant.cloud.instance(server).vm_state == VmState.DELETED
    assert plant.cloud.app.repository.get(port.id).deleted
    assert _hypervisor(plant, host).list_domains() == []
    assert _ports(plant, host).list_ports() == [] and _ports(plant, host).list_segments() == []
    assert _firewall(plant, host).list_filters() == []
    assert _dhcp(plant).list_services() == []  # the server goes with its last lease
    assert str(port.id) not in plant.cloud.quota().allocations


class DeletedAsItStarts(FakeHypervisor):
    """A guest whose delete is asked for while its host starts it: the spawn
    then records nothing, its ports stay unbound in the ledger."""

    def __init__(self, delete: Callable[[], None]) -> None:
        super().__init__()
        self.delete = delete

    def ensure_running(self, spec: DomainSpec) -> None:
        super().ensure_running(spec)
        self.delete()


def test_a_spawn_a_delete_overtook_leaves_no_tap_or_filter_on_its_host(
    plant: NetworkPlant,
) -> None:
    server, host = _scheduled(plant, "overtaken")
    hypervisor = DeletedAsItStarts(lambda: plant.cloud.action("delete", server))
    plant.computes[host] = replace(plant.computes[host], hypervisor=hypervisor)

    plant.pump()

    assert plant.cloud.instance(server).vm_state == VmState.DELETED
    (port,) = [
        plant.cloud.app.repository.get(UUID(p)) for p in plant.cloud.instance(server).port_ids
    ]
    assert port.deleted and port.host == ""  # the spawn's save never bound it
    assert hypervisor.list_domains() == []
    assert _ports(plant, host).list_ports() == []  # its host unplugged it with the guest
    assert _firewall(plant, host).list_filters() == []


def _digest(plant: NetworkPlant, host: str, port_id: UUID) -> str:
    (found,) = [f for f in _firewall(plant, host).list_filters() if f.port_id == str(port_id)]
    return found.digest


def test_a_rule_added_to_a_group_reaches_its_running_ports_on_every_host(
    plant: NetworkPlant,
) -> None:
    plant.cloud.set_quota(instances=20)
    servers = [_booted(plant, f"vm-{n}") for n in range(4)]
    hosts = {host for _, host in servers}
    assert hosts == set(HOSTS)  # the scheduler spread them
    ports = {server: plant.ports_of(server)[0].id for server, _ in servers}
    before = {s: _digest(plant, h, ports[s]) for s, h in servers}
    group = plant.ports_of(servers[0][0])[0].security_group_ids[0]

    plant.net.create_security_group_rule(
        RuleSpec(group, "ingress", "IPv4", "icmp"), plant.cloud.member
    )
    plant.pump()

    after = {s: _digest(plant, h, ports[s]) for s, h in servers}
    assert all(after[s] != before[s] for s in after)
    assert [p for p in plant.pending() if p.startswith("network.")] == []


def _group_members(plant: NetworkPlant, host: str) -> frozenset[str]:
    """The addresses in the host's set of the default group (IPv4)."""
    (found,) = [s for s in _firewall(plant, host).list_address_sets() if s.ethertype == "IPv4"]
    return found.addresses


def test_a_member_joining_or_leaving_changes_the_group_s_set_on_every_host_not_its_rules(
    plant: NetworkPlant,
) -> None:
    plant.cloud.set_quota(instances=20)
    servers = [_booted(plant, f"vm-{n}") for n in range(3)]
    assert {host for _, host in servers} == set(HOSTS)
    address = {s: plant.ports_of(s)[0].fixed_ips[0].ip_address for s, _ in servers}
    ports = {s: plant.ports_of(s)[0].id for s, _ in servers}
    before = {s: _digest(plant, h, ports[s]) for s, h in servers}
    assert all(_group_members(plant, h) == frozenset(address.values()) for h in HOSTS)

    joined, joined_host = _booted(plant, "vm-new")
    (gone, _), kept = servers[0], servers[1:]
    plant.cloud.action("delete", gone)
    plant.pump()

    wanted = {address[s] for s, _ in kept} | {plant.ports_of(joined)[0].fixed_ips[0].ip_address}
    hosts = {h for _, h in kept} | {joined_host}  # a host without members has no set
    assert all(_group_members(plant, h) == wanted for h in hosts)
    assert all(_digest(plant, h, ports[s]) == before[s] for s, h in kept)
    assert [p for p in plant.pending() if p.startswith("network.")] == []


def test_a_member_joining_owes_each_host_with_members_one_refill_not_one_per_member(
    plant: NetworkPlant,
) -> None:
    plant.cloud.set_quota(instances=20)
    servers = [_booted(plant, f"vm-{n}") for n in range(4)]
    assert {host for _, host in servers} == set(HOSTS)

    plant.boot("vm-new")
    plant.relay.catch_up()  # what the join owes, before any worker runs

    owed = [
        r["queue"]
        for r in rows(
            plant.cloud.database_url,
            "SELECT queue FROM relay_pending WHERE kind = 'network.filter_members'",
        )
    ]
    assert sorted(owed) == sorted(NETWORK.queue(h) for h in HOSTS)
    plant.pump()
    assert [p for p in plant.pending() if p.startswith("network.")] == []


def test_a_port_attached_to_a_running_server_is_plugged_then_in_its_guest(
    plant: NetworkPlant,
) -> None:
    server, host = _booted(plant)
    made = attach_interface(
        plant.cloud.app, str(server), "", plant.ids["private"], "", plant.cloud.member
    )
    (port_id,) = made.ids
    assert "network.plug" not in _kinds_relayed(plant)
    plant.pump()
    port = plant.cloud.app.repository.get(port_id)
    assert (port.host, port.status) == (host, "ACTIVE")
    assert "network.plug" in _kinds_relayed(plant)  # its host's network queue plugged it
    interfaces = _hypervisor(plant, host).interfaces(domain_name(server))
    assert [i.tap for i in interfaces][-1] == tap_name(str(port_id)) and len(interfaces) == 2

    detach_interface(plant.cloud.app, str(server), str(port_id), plant.cloud.member)
    plant.pump()
    assert len(_hypervisor(plant, host).interfaces(domain_name(server))) == 1
    assert str(port_id) not in {p.port_id for p in _ports(plant, host).list_ports()}
