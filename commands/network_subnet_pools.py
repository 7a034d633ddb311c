"""Subnet pools: made (shared ones by admins), changed (prefixes only
grow), deleted once no subnet holds a prefix of them."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from commands.network_batch import NetworkBatch, NeutronForbidden
from domain.network import require_name
from domain.subnet import Subnet
from domain.subnet_pool import SubnetPool, check_lengths, checked_prefixes
from domain.values import Actor


@dataclass(frozen=True)
class SubnetPoolSpec:
    name: str
    prefixes: tuple[str, ...]
    description: str = ""
    default_prefixlen: int | None = None
    min_prefixlen: int | None = None
    max_prefixlen: int | None = None
    shared: bool = False
    project_id: str = ""


def create_pool_in(batch: NetworkBatch, spec: SubnetPoolSpec, actor: Actor) -> SubnetPool:
    require_name(spec.name, "name")
    require_name(spec.description, "description")
    version, prefixes = checked_prefixes(spec.prefixes)
    bits = 32 if version == 4 else 128
    minimum = spec.min_prefixlen if spec.min_prefixlen is not None else (8 if version == 4 else 64)
    maximum = spec.max_prefixlen if spec.max_prefixlen is not None else bits
    default = spec.default_prefixlen if spec.default_prefixlen is not None else minimum
    check_lengths(version, minimum, default, maximum)
    pool = SubnetPool(
        project_id=spec.project_id or actor.project_id,
        name=spec.name,
        description=spec.description,
        ip_version=version,
        prefixes=prefixes,
        default_prefixlen=default,
        min_prefixlen=minimum,
        max_prefixlen=maximum,
        shared=spec.shared,
        actor=actor,
    )
    batch.add(pool)
    return pool


def owned_pool(batch: NetworkBatch, pool_id: str, actor: Actor) -> SubnetPool:
    pool = batch.visible(SubnetPool, pool_id, actor)
    if not pool.owned_by(actor):
        raise NeutronForbidden(f"The subnet pool {pool.id} is not the caller's to change")
    return pool


def update_pool_in(
    batch: NetworkBatch, pool_id: str, changes: dict[str, object], actor: Actor
) -> SubnetPool:
    pool = owned_pool(batch, pool_id, actor)
    for key in ("name", "description"):
        if key in changes:
            require_name(changes[key], key)
    pool.update(changes, actor)
    return pool


def delete_pool_in(batch: NetworkBatch, pool_id: str, actor: Actor) -> SubnetPool:
    pool = owned_pool(batch, pool_id, actor)
    pool.delete(actor)
    return pool


def release_pool_prefix(batch: NetworkBatch, subnet: Subnet, actor: Actor) -> None:
    if subnet.subnetpool_id:
        pool = batch.find(SubnetPool, UUID(subnet.subnetpool_id))
        if pool is not None:
            pool.release(subnet.cidr, str(subnet.id), actor)
