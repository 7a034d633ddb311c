"""What the hosts record of the network: a server's ports bound and plugged
by its host in the spawn's save, ports plugged by a host's network queue
(and a server being built told once all of its ports are), the network's
own ports up where their services run, floating IPs' NAT in place, and
each drift a host's reconcile repaired."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from commands.app import CloudApp
from commands.loading import BatchAggregates, load_many
from commands.logs import sole_request_id
from commands.retry import retrying
from domain.floating_ip import FloatingIP
from domain.instance import Instance
from domain.network_host import NetworkHost
from domain.port import Port
from domain.values import Actor, TaskState

SERVICE = "network"


def network_actor(project_id: str) -> Actor:
    """The network service, under the request the job carries on (or one of its own)."""
    request_id = sole_request_id() or f"req-{uuid4()}"
    return Actor(f"service:{SERVICE}", project_id, ("service",), request_id)


def ports_of_spawns(batch: BatchAggregates, instances: Sequence[Instance]) -> None:
    """The ports a batch of spawns records plugged, read in one query."""
    batch.get_many(Port, [UUID(p) for i in instances if not i.ports_ready for p in i.port_ids])


def plugged_with_spawn(instance: Instance, batch: BatchAggregates) -> None:
    """In the spawn's save: the server's live ports bound to its host and
    ACTIVE there, the host having plugged them as the guest started
    (workers/jobs/boot_ports.py). The binding's own job is then cancelled
    (workers/resources/network.py): nothing is left to plug."""
    host = instance.host
    if not host or not instance.port_ids or instance.ports_ready:
        return
    ports = batch.get_many(Port, [UUID(p) for p in instance.port_ids])
    compute = instance.last_request.as_service("compute")
    for port in ports.values():
        if port.deleted or port.device_id != str(instance.id):
            continue
        port.plug_with_spawn(host, compute)


@retrying
def record_plugged(app: CloudApp, host: str, port_ids: Sequence[UUID]) -> list[UUID]:
    """The ports the host plugged, ACTIVE, in one save, with their servers
    being built here whose ports are now all plugged; returns the ports
    recorded (one unbound or deleted meanwhile is left out)."""
    ports = load_many(app, Port, port_ids)
    recorded: list[Port] = []
    for port in ports.values():
        if not port.deleted and port.host == host:
            port.mark_plugged(host, network_actor(port.project_id))
            recorded.append(port)
    servers = _servers_ready(app, host, recorded)
    if recorded:
        app.save(*recorded, *servers)
    return [port.id for port in recorded]


def _servers_ready(app: CloudApp, host: str, plugged: Sequence[Port]) -> list[Aggregate]:
    """Servers being built here whose every port is plugged now, told so."""
    ids = {UUID(p.device_id) for p in plugged if p.on_server and _is_uuid(p.device_id)}
    instances = load_many(app, Instance, ids)
    waiting = [
        i
        for i in instances.values()
        if i.task_state == TaskState.SPAWNING and i.host == host and not i.ports_ready
    ]
    # The server's other ports (most servers have none): the plugged ones as this save leaves them.
    others: dict[UUID, Port] = {p.id: p for p in plugged}
    others.update(
        load_many(app, Port, {UUID(p) for i in waiting for p in i.port_ids} - set(others))
    )
    ready = []
    for instance in waiting:
        ports = [others.get(UUID(p)) for p in instance.port_ids]
        if all(p is not None and p.status == "ACTIVE" and p.host == host for p in ports):
            instance.mark_ports_plugged(host, instance.last_request.as_service(SERVICE))
            ready.append(instance)
    return list(ready)


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


@retrying
def record_service_plugged(app: CloudApp, host: str, port_ids: Iterable[UUID]) -> None:
    """The network's own ports (DHCP, router legs) up on ``host``, ACTIVE."""
    ports = [
        p
        for p in load_many(app, Port, set(port_ids)).values()
        if not p.deleted and (p.status, p.host) != ("ACTIVE", host)
    ]
    for port in ports:
        port.mark_service_plugged(host, network_actor(port.project_id))
    if ports:
        app.save(*ports)


@retrying
def report_floating_ips(app: CloudApp, statuses: dict[UUID, str]) -> None:
    """What the network node's NAT does for each floating IP: ACTIVE or DOWN."""
    changed = []
    for floating_ip in load_many(app, FloatingIP, statuses).values():
        wanted = statuses[floating_ip.id]
        if not floating_ip.deleted and floating_ip.status != wanted:
            floating_ip.report_status(wanted, network_actor(floating_ip.project_id))
            changed.append(floating_ip)
    if changed:
        app.save(*changed)


@dataclass(frozen=True)
class Repair:
    """One drift a host's reconcile found and repaired."""

    kind: str  # domain/network_host.py: REPAIRED_KINDS
    item: str
    action: str
    detail: str


@retrying
def record_repairs(app: CloudApp, host: str, repairs: Sequence[Repair]) -> None:
    """Each repair an event on the host's NetworkHost, in one save."""
    if not repairs:
        return
    actor = network_actor("")
    found = load_many(app, NetworkHost, [NetworkHost.create_id(host)])
    agent = next(iter(found.values()), None) or NetworkHost(host=host, actor=actor)
    for repair in repairs:
        agent.repaired(repair.kind, repair.item, repair.action, repair.detail, actor)
    app.save(agent)
