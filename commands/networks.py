"""Networks: made with their segment (a VXLAN VNI from its pool) and quota,
changed, and deleted with what the network itself owns (its subnets and
DHCP port); refused while other ports are on it."""

from __future__ import annotations

from dataclasses import dataclass

from commands.network_batch import NetworkBatch, NeutronForbidden
from commands.network_port_changes import delete_port_in
from commands.network_ports import network_subnets
from commands.network_subnet_pools import release_pool_prefix
from domain.addressing import (
    NeutronBadRequest,
)
from domain.network import (
    DEFAULT_MTU,
    NETWORK_TYPES,
    Network,
    SegmentPool,
    require_name,
)
from domain.network_values import Segment
from domain.port import Port
from domain.values import Actor

PHYSICAL_MTU = 1500
MIN_MTU = 68


@dataclass(frozen=True)
class NetworkSpec:
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    shared: bool = False
    external: bool = False
    network_type: str = ""  # "" for the cloud's choice (VXLAN)
    physical_network: str = ""
    segmentation_id: int | None = None
    mtu: int | None = None
    port_security_enabled: bool = True
    project_id: str = ""


# Networks ---------------------------------------------------------------------


def create_network_in(batch: NetworkBatch, spec: NetworkSpec, actor: Actor) -> Network:
    require_name(spec.name, "name")
    require_name(spec.description, "description")
    project = spec.project_id or actor.project_id
    kind = spec.network_type or "vxlan"
    if kind not in NETWORK_TYPES:
        raise NeutronBadRequest(
            f"Invalid input for operation: network_type value '{kind:.20}' not supported.",
            "InvalidInput",
        )
    physical = _physical_network(kind, spec.physical_network)
    pool = batch.find(SegmentPool, SegmentPool.create_id(kind, physical))
    if pool is None:
        pool = SegmentPool(network_type=kind, physical_network=physical, actor=actor)
        batch.add(pool)
    segmentation_id = spec.segmentation_id
    if kind == "flat":
        if segmentation_id not in (None, 0):
            raise NeutronBadRequest("A flat network has no segmentation id", "InvalidInput")
        segmentation_id = 0
    elif segmentation_id is None:
        segmentation_id = pool.choose()
    limit = DEFAULT_MTU if kind == "vxlan" else PHYSICAL_MTU
    mtu = limit if spec.mtu is None else spec.mtu
    if not MIN_MTU <= mtu <= limit:
        raise NeutronBadRequest(
            f"Invalid input for mtu: {mtu} is not in {MIN_MTU}-{limit} on a {kind} network",
            "InvalidInput",
        )
    quota = batch.quota(project)
    quota.check({"network": 1})
    held = pool.held.get(str(segmentation_id))
    if held is not None:
        pool.take(segmentation_id, "", actor)  # raises: in use
    network = Network(
        project_id=project,
        name=spec.name,
        description=spec.description,
        admin_state_up=spec.admin_state_up,
        shared=spec.shared,
        external=spec.external,
        segment=Segment(kind, physical, segmentation_id),
        mtu=mtu,
        port_security_enabled=spec.port_security_enabled,
        actor=actor,
    )
    batch.add(network)
    pool.take(segmentation_id, str(network.id), actor)
    quota.reserve(str(network.id), {"network": 1}, actor)
    return network


def _physical_network(kind: str, given: str) -> str:
    if kind == "vxlan":
        if given:
            raise NeutronBadRequest(
                "Invalid input for operation: provider:physical_network specified for vxlan"
                " network.",
                "InvalidInput",
            )
        return ""
    if not given:
        raise NeutronBadRequest(
            f"Invalid input for operation: physical_network required for {kind} provider network.",
            "InvalidInput",
        )
    require_name(given, "provider:physical_network", allow_empty=False)
    if len(given) > 64 or not given.replace("-", "").replace("_", "").isalnum():
        raise NeutronBadRequest(f"Invalid provider:physical_network '{given:.40}'", "InvalidInput")
    return given


def owned_network(batch: NetworkBatch, network_id: str, actor: Actor) -> Network:
    """A network the caller may change: 404 if it cannot see it, 403 if it
    sees it (shared, external) but does not own it."""
    network = batch.visible(Network, network_id, actor)
    if not network.owned_by(actor):
        raise NeutronForbidden(f"The network {network.id} is not the caller's to change")
    return network


def update_network_in(
    batch: NetworkBatch, network_id: str, changes: dict[str, object], actor: Actor
) -> Network:
    network = owned_network(batch, network_id, actor)
    for key in ("name", "description"):
        if key in changes:
            require_name(changes[key], key)
    mtu = changes.get("mtu")
    if mtu is not None:
        limit = DEFAULT_MTU if network.segment.network_type == "vxlan" else PHYSICAL_MTU
        if not isinstance(mtu, int) or not MIN_MTU <= mtu <= limit:
            raise NeutronBadRequest(f"Invalid input for mtu: {mtu!s:.20}", "InvalidInput")
    network.update(changes, actor)
    return network


def delete_network_in(batch: NetworkBatch, network_id: str, actor: Actor) -> Network:
    """With its subnets and DHCP port; 409 NetworkInUse while other ports remain."""
    network = owned_network(batch, network_id, actor)
    network.check_deletable()
    own_ports = [batch.get(Port, p) for p in network.ports]
    subnets = network_subnets(batch, network)
    for port in own_ports:
        delete_port_in(batch, port, actor)
    for subnet in subnets:
        subnet.delete({str(p.id): p.device_owner for p in own_ports}, actor)
        release_pool_prefix(batch, subnet, actor)
        batch.quota(subnet.project_id).release(str(subnet.id), actor)
        network.remove_subnet(str(subnet.id), actor)
    network.delete(actor)
    segment = network.segment
    pool = batch.find(
        SegmentPool, SegmentPool.create_id(segment.network_type, segment.physical_network)
    )
    if pool is not None:
        pool.release(segment.segmentation_id, str(network.id), actor)
    batch.quota(network.project_id).release(str(network.id), actor)
    return network
