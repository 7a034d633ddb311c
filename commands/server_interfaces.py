"""os-interface: a port attached to a server after boot (the user's own
port, or one made on a network for it) and detached again; the server and
the port change in one save. A server on a host has the port bound to that
host at once, so the host's network worker plugs it."""

from __future__ import annotations

from uuid import UUID

from commands.app import CloudApp
from commands.network_batch import NetworkBatch, NeutronNotFound
from commands.network_port_changes import delete_port_in
from commands.network_ports import FixedIpRequest, PortSpec, create_port_in
from commands.network_services import Made
from commands.receipt import Receipt
from commands.retry import retry_on_conflict
from commands.server_networks import DEFAULT_ZONE
from commands.servers import owned_instance
from domain.addressing import NeutronConflict
from domain.errors import InvalidInput, NotFound
from domain.instance import Instance
from domain.network import Network
from domain.network_values import COMPUTE_OWNER_PREFIX
from domain.port import Port
from domain.values import Actor


def _instance(app: CloudApp, batch: NetworkBatch, server_id: str, actor: Actor) -> Instance:
    instance = owned_instance(app, server_id, actor)
    instance.require_unlocked(actor)
    batch.loaded[instance.id] = instance
    return instance


def attach_interface(
    app: CloudApp, server_id: str, port_id: str, network_id: str, fixed_ip: str, actor: Actor
) -> Made:
    def attempt() -> Made:
        batch = NetworkBatch(app)
        instance = _instance(app, batch, server_id, actor)
        owner = f"{COMPUTE_OWNER_PREFIX}{instance.zone_asked or DEFAULT_ZONE}"
        if port_id:
            port = _free_port(batch, port_id, actor)
            instance.attach_port(str(port.id), port.network_id, actor)
            port.attach(str(instance.id), owner, actor)
            batch.port_added(batch.get(Network, port.network_id), port)
        elif network_id:
            network = _network(batch, network_id, actor)
            fixed = (FixedIpRequest(ip_address=fixed_ip),) if fixed_ip else None
            spec = PortSpec(
                network_id=str(network.id),
                fixed_ips=fixed,
                device_id=str(instance.id),
                device_owner=owner,
                delete_with_device=True,
                project_id=instance.project_id,
            )
            port = create_port_in(batch, spec, actor)
            instance.attach_port(str(port.id), str(network.id), actor)
        else:
            raise InvalidInput("Give a port_id or a net_id to attach")
        if instance.host:
            port.bind(instance.host, actor)
        recordings = batch.save(actor)
        return Made((port.id,), Receipt.of(port.id, recordings))

    return retry_on_conflict(attempt)


def _free_port(batch: NetworkBatch, port_id: str, actor: Actor) -> Port:
    try:
        port = batch.visible(Port, port_id, actor)
    except NeutronNotFound:
        raise NotFound(f"Port {port_id} could not be found.") from None
    if port.project_id != actor.project_id and not actor.is_admin:
        raise NotFound(f"Port {port_id} could not be found.")
    if port.device_id or port.device_owner:
        raise NeutronConflict(f"Port {port.id} is still in use.", "PortInUse")
    return port


def _network(batch: NetworkBatch, network_id: str, actor: Actor) -> Network:
    try:
        network = batch.visible(Network, network_id, actor)
    except NeutronNotFound:
        raise NotFound(f"Network {network_id} could not be found.") from None
    if network.external and not network.shared and not actor.is_admin:
        raise InvalidInput(f"Network {network_id} is external: a server cannot attach to it")
    return network


def detach_interface(app: CloudApp, server_id: str, port_id: str, actor: Actor) -> Receipt:
    def attempt() -> Receipt:
        batch = NetworkBatch(app)
        instance = _instance(app, batch, server_id, actor)
        try:
            wanted = str(UUID(port_id))
        except ValueError:
            raise NotFound(f"Port {port_id[:64]} is not attached") from None
        instance.detach_port(wanted, actor)
        port = batch.find(Port, UUID(wanted))
        if port is not None and not port.deleted:
            if port.delete_with_device:
                delete_port_in(batch, port, actor, forget_on_server=False)
            else:
                port.detach(actor)
                network = batch.find(Network, UUID(port.network_id))
                if network is not None and not network.deleted:
                    batch.port_added(network, port)
        return Receipt.of(instance.id, batch.save(actor))

    return retry_on_conflict(attempt)
