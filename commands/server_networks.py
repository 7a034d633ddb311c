"""A server's ports: made (or taken, a user's port) for it at boot in the
same save as the instance and its quota; let go when it is deleted (the
ports made for it deleted with their floating IPs disassociated, a user's
port detached and kept); attached and detached later (os-interface)."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from uuid import UUID

from eventsourcing.domain import Aggregate

from commands.app import CloudApp
from commands.loading import BatchAggregates
from commands.network_batch import NetworkBatch, NeutronNotFound, parse_id
from commands.network_macs import mac_claim_id
from commands.network_port_changes import GivenBackLater, delete_port_in, give_back
from commands.network_ports import FixedIpRequest, PortSpec, create_port_in, network_subnets
from commands.network_security import group_for_port
from domain.addressing import NeutronConflict, parse_address
from domain.errors import DomainError, InvalidInput
from domain.instance import Instance
from domain.network import Network
from domain.network_values import COMPUTE_OWNER_PREFIX
from domain.port import Port
from domain.quota import Quota
from domain.values import Actor, NetworkRequest

DEFAULT_ZONE = "nova"


class SpoiledBoot(DomainError):
    """A boot failed after it had changed the batch: the batch runs again
    without it (``cause`` is what its caller is told)."""

    def __init__(self, cause: DomainError) -> None:
        super().__init__(cause.message)
        self.cause = cause


@dataclass
class _Plan:
    """What one boot request's networks need, checked."""

    requests: list[NetworkRequest]
    networks: dict[str, Network]  # network id -> network
    user_ports: dict[str, Port]  # port id -> a port of the user's, free
    new_ports: int  # ports made for each instance
    security_groups: tuple[str, ...] = ()  # of the ports made; () the default


class ServerNetworking:
    """The networking part of one batch of boots (one project)."""

    def __init__(self, app: CloudApp, quota: Quota) -> None:
        self.batch = NetworkBatch(app)
        self.batch.loaded[quota.id] = quota  # the boots' own copy: saved once, with them

    def plan(
        self,
        requests: Sequence[NetworkRequest],
        actor: Actor,
        max_count: int,
        security_groups: Sequence[str] = (),
    ) -> _Plan:
        """Every network, port and security group a boot names, checked as
        the thing itself (another project's is not found), before anything
        changes."""
        for group_id in security_groups:
            try:
                group_for_port(self.batch, group_id, actor.project_id, actor)
            except NeutronNotFound:
                raise InvalidInput(f"Security group {group_id} not found.") from None
        networks: dict[str, Network] = {}
        user_ports: dict[str, Port] = {}
        resolved = []
        for request in requests:
            if request.port_id:
                port = self._user_port(request.port_id, actor)
                if max_count > 1:
                    raise InvalidInput("Unable to launch multiple instances with a single port")
                user_ports[str(port.id)] = port
                networks.setdefault(port.network_id, self.batch.get(Network, port.network_id))
                resolved.append(replace(request, port_id=str(port.id), network_id=port.network_id))
                continue
            network = self._network(request.network_id, actor)
            networks[str(network.id)] = network
            if request.fixed_ip:
                if max_count > 1:
                    raise InvalidInput("Unable to launch multiple instances with a fixed IP")
                parse_address(request.fixed_ip, "fixed_ip")
            resolved.append(replace(request, network_id=str(network.id)))
        if len(user_ports) != sum(1 for r in resolved if r.port_id):
            raise InvalidInput("A port may be named only once")
        made = sum(1 for r in resolved if not r.port_id)
        return _Plan(resolved, networks, user_ports, made, tuple(security_groups))

    def _network(self, network_id: str, actor: Actor) -> Network:
        try:
            network = self.batch.visible(Network, network_id, actor)
        except NeutronNotFound:
            raise InvalidInput(f"Network {network_id} could not be found.") from None
        if network.external and not network.shared and not actor.is_admin:
            raise InvalidInput(f"Network {network_id} is external: a server cannot boot onto it")
        return network

    def _user_port(self, port_id: str, actor: Actor) -> Port:
        try:
            port = self.batch.visible(Port, port_id, actor)
        except NeutronNotFound:
            raise InvalidInput(f"Port {port_id} could not be found.") from None
        if port.project_id != actor.project_id and not actor.is_admin:
            raise InvalidInput(f"Port {port_id} could not be found.")
        if port.device_id or port.device_owner:
            raise NeutronConflict(f"Port {port.id} is still in use.", "PortInUse")
        return port

    def fits(self, plan: _Plan, wanted: int) -> int:
        """How many servers of this plan the networks have addresses for."""
        fitting = wanted
        for network_id, network in plan.networks.items():
            per_server = len(
                [r for r in plan.requests if r.network_id == network_id and not r.port_id]
            )
            if not per_server:
                continue
            v4 = [s for s in network_subnets(self.batch, network) if s.ip_version == 4]
            if v4:
                free = sum(self.batch.allocator(s).free() for s in v4)
                fitting = min(fitting, free // per_server)
        return fitting

    def attach(
        self, server_id: UUID, project_id: str, plan: _Plan, zone: str, actor: Actor
    ) -> tuple[list[NetworkRequest], list[str]]:
        """The ports of the server about to be requested: made, or the user's
        taken. Returns its network requests, each naming its port (what its
        ``Requested`` event records), and the ports made, whose quota the
        caller reserves with the server's in one event (a user's port
        holds its own)."""
        owner = f"{COMPUTE_OWNER_PREFIX}{zone or DEFAULT_ZONE}"
        done: list[NetworkRequest] = []
        made: list[str] = []
        try:
            for request in plan.requests:
                if request.port_id:
                    port = plan.user_ports[request.port_id]
                    port.attach(str(server_id), owner, actor)
                    self.batch.port_added(plan.networks[port.network_id], port)
                    done.append(request)
                    continue
                fixed = (FixedIpRequest(ip_address=request.fixed_ip),) if request.fixed_ip else None
                spec = PortSpec(
                    network_id=request.network_id,
                    fixed_ips=fixed,
                    device_id=str(server_id),
                    device_owner=owner,
                    delete_with_device=True,
                    project_id=project_id,
                    security_groups=plan.security_groups or None,
                    quota_with_device=True,
                )
                port = create_port_in(self.batch, spec, actor)
                done.append(replace(request, port_id=str(port.id)))
                made.append(str(port.id))
        except DomainError as exc:
            raise SpoiledBoot(exc) from None
        return done, made

    def changed(self, quota: Quota, actor: Actor) -> list[Aggregate]:
        """What to save with the boots (their quota aside)."""
        self.batch.flush(actor)
        return [a for a in self.batch.changed() if a.id != quota.id]


# A server's deletion ------------------------------------------------------------


# The networking of each action batch (its BatchAggregates): the deletes of
# one action batch share their networks, subnets and groups, and their ports
# are read and released together, just before the batch saves.
@dataclass
class _Releases:
    batch: NetworkBatch
    actor: Actor  # the first delete's: the batch's list and quota changes are made as it
    servers: list[tuple[str, tuple[str, ...], Actor]] = field(default_factory=list)
    # The servers' quota and their ports' quota and addresses, given back
    # in one event per quota and per subnet.
    later: GivenBackLater = field(default_factory=GivenBackLater)


_RELEASES: weakref.WeakKeyDictionary[BatchAggregates, _Releases] = weakref.WeakKeyDictionary()


def prepare_port_releases(
    shared: BatchAggregates, instances: Sequence[Instance], actor: Actor
) -> None:
    """Read the ports of every server an action batch may delete, and what
    they touch, in two round trips rather than a few per server."""
    port_ids = [p for instance in instances for p in instance.port_ids]
    if not port_ids:
        return
    _preload_around(_releases(shared, actor).batch, [UUID(p) for p in port_ids])


def _releases(shared: BatchAggregates, actor: Actor) -> _Releases:
    if shared not in _RELEASES:
        _RELEASES[shared] = _Releases(NetworkBatch(shared.app), actor)
    return _RELEASES[shared]


def release_server_ports(
    instance: Instance, actor: Actor, shared: BatchAggregates, quota: bool = False
) -> bool:
    """In the save that deletes the server: the ports made for it go (their
    floating IPs disassociated), a user's port is detached and kept. Done
    for every server of the batch at once by ``finish_port_releases``, which
    must run before ``shared`` is saved (the aggregates changed join it).
    With ``quota``, the server's own quota goes back with its ports', in
    one event for the batch. False: it has no ports, nothing was taken on."""
    if not instance.port_ids:
        return False
    releases = _releases(shared, actor)
    releases.servers.append((str(instance.id), tuple(instance.port_ids), actor))
    if quota:
        releases.later.quota.setdefault(instance.project_id, []).append(str(instance.id))
    return True


def finish_port_releases(shared: BatchAggregates) -> None:
    """Before the action batch saves: the ports of every server it deletes,
    and what they touch, read in two queries for all of them; then each
    network's and group's lists change once for all the deletes."""
    releases = _RELEASES.pop(shared, None)
    if releases is None:
        return
    batch = releases.batch
    batch.loaded.update(shared.loaded)  # one object per aggregate in the save
    port_ids = [parse_id(Port, p) for _, ports, _ in releases.servers for p in ports]
    _preload_around(batch, port_ids)
    for server_id, ports, actor in releases.servers:
        _release(batch, server_id, ports, actor, releases.later)
    give_back(batch, releases.later, releases.actor)
    batch.flush(releases.actor)
    for aggregate in batch.changed():
        shared.loaded[aggregate.id] = aggregate


def _release(
    batch: NetworkBatch,
    server_id: str,
    port_ids: Sequence[str],
    actor: Actor,
    later: GivenBackLater,
) -> None:
    """One server's ports; what those deleted held is given back ``later``."""
    for port_id in port_ids:
        port = batch.find(Port, UUID(port_id))
        if port is None or port.deleted or port.device_id != server_id:
            continue
        if port.delete_with_device:
            delete_port_in(batch, port, actor, forget_on_server=False, later=later)
        else:
            port.detach(actor)
            network = batch.find(Network, parse_id(Network, port.network_id))
            if network is not None and not network.deleted:
                batch.port_added(network, port)


def _preload_around(batch: NetworkBatch, port_ids: list[UUID]) -> None:
    """The ports, then what deleting them touches, in a query each (none
    for what the batch has already read). MAC claims only for ports of a
    network that had ports before networks held MACs: elsewhere there are
    none, and asking for ids that do not exist is a query every time."""
    batch.preload(port_ids)
    ports = [p for p in (batch.find(Port, i) for i in port_ids) if p is not None]
    batch.preload([i for port in ports for i in _around(port)])
    claims = [mac_claim_id(p.mac_address) for p in ports if _may_hold_claim(batch, p)]
    batch.preload(claims)


def _around(port: Port) -> list[UUID]:
    return [
        UUID(port.network_id),
        *(UUID(f.subnet_id) for f in port.fixed_ips),
        *(UUID(g) for g in port.security_group_ids),
        *(UUID(f) for f in port.floating_ips),
    ]


def _may_hold_claim(batch: NetworkBatch, port: Port) -> bool:
    network = batch.find(Network, UUID(port.network_id))
    return network is None or network.may_hold_mac_claims()
