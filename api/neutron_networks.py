"""Networking v2.0 networks and subnets, in Neutron's shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import accepts, authorize, parse_body, state
from api.errors import BadRequest
from api.neutron_common import (
    PREFIX,
    commands,
    list_answer,
    many_made,
    one_answer,
    path_id,
    project_of,
    project_scope,
    require_own_project,
    run,
    shown_made,
)
from api.responses import JSONResponse
from commands.network_subnets import AUTO, SubnetSpec
from commands.networks import NetworkSpec
from domain.network import Network
from domain.network_values import AllocationPool, HostRoute
from domain.subnet import Subnet
from domain.values import INT32_MAX, Actor
from projections.network_networks import network_by_id, networks_page, subnet_by_id, subnets_page

NETWORK_SORTS = ("name", "status", "admin_state_up", "shared", "router:external", "mtu",
                 "created_at", "updated_at", "project_id", "tenant_id", "description")  # fmt: skip
SUBNET_SORTS = ("name", "cidr", "ip_version", "network_id", "gateway_ip", "enable_dhcp",
                "created_at", "updated_at", "project_id", "tenant_id", "description")  # fmt: skip


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NetworkIn(_Body):
    name: str = Field(default="", max_length=255)
    description: str = Field(default="", max_length=255)
    admin_state_up: bool = True
    shared: bool = False
    external: bool = Field(default=False, alias="router:external")
    network_type: str | None = Field(default=None, alias="provider:network_type", max_length=16)
    physical_network: str | None = Field(
        default=None, alias="provider:physical_network", max_length=64
    )
    segmentation_id: int | None = Field(
        default=None, alias="provider:segmentation_id", ge=0, le=INT32_MAX
    )
    mtu: int | None = Field(default=None, ge=0, le=INT32_MAX)
    port_security_enabled: bool = True
    tenant_id: str | None = Field(default=None, max_length=64)
    project_id: str | None = Field(default=None, max_length=64)
    availability_zone_hints: list[str] = Field(default_factory=list, max_length=0)


class CreateNetworkBody(_Body):
    network: NetworkIn | None = None
    networks: list[NetworkIn] | None = Field(default=None, min_length=1, max_length=100)


class NetworkChange(_Body):
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    admin_state_up: bool | None = None
    shared: bool | None = None
    external: bool | None = Field(default=None, alias="router:external")
    mtu: int | None = Field(default=None, ge=0, le=INT32_MAX)
    port_security_enabled: bool | None = None


class UpdateNetworkBody(_Body):
    network: NetworkChange


def _network_spec(request: Request, body: NetworkIn, actor: Actor) -> NetworkSpec:
    policy = state(request).policy
    if body.shared:
        policy.enforce(actor, "network:create_network:shared")
    if body.external:
        policy.enforce(actor, "network:create_network:router:external")
    if any(v is not None for v in (body.network_type, body.physical_network, body.segmentation_id)):
        policy.enforce(actor, "network:create_network:provider")
    return NetworkSpec(
        name=body.name,
        description=body.description,
        admin_state_up=body.admin_state_up,
        shared=body.shared,
        external=body.external,
        network_type=body.network_type or "",
        physical_network=body.physical_network or "",
        segmentation_id=body.segmentation_id,
        mtu=body.mtu,
        port_security_enabled=body.port_security_enabled,
        project_id=require_own_project(project_of(body), actor),
    )


def _one_or_many(body: Any, one: str, many: str) -> tuple[list[Any], bool]:
    single, bulk = getattr(body, one), getattr(body, many)
    if (single is None) == (bulk is None):
        raise BadRequest(f"Resource body required: give '{one}' or '{many}'")
    return ([single], False) if single is not None else (list(bulk), True)


@accepts(CreateNetworkBody)
async def create_networks(request: Request) -> JSONResponse:
    actor = authorize(request, "network:create_network")
    body = await parse_body(request, CreateNetworkBody)
    items, bulk = _one_or_many(body, "network", "networks")
    specs = [_network_spec(request, item, actor) for item in items]
    made = await run(request, lambda: commands(request).create_networks(specs, actor))
    query = _network_query(actor)
    if bulk:
        docs = await many_made(request, made.ids, "networks", actor, query)
        return JSONResponse({"networks": docs}, 201)
    return await shown_made(request, made, "network", "networks", actor, query, Network, 201)


def _network_query(actor: Actor) -> Any:
    return lambda ident: network_by_id(project_scope(actor), ident)


async def list_networks(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_network")
    scope = project_scope(actor)
    return await list_answer(
        request, "networks", actor, lambda ls: networks_page(scope, ls), NETWORK_SORTS
    )


async def show_network(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_network")
    ident = path_id(request, Network)
    query = network_by_id(project_scope(actor), ident)
    return await one_answer(request, "network", "networks", actor, query, Network, ident)


@accepts(UpdateNetworkBody)
async def update_network(request: Request) -> JSONResponse:
    actor = authorize(request, "network:update_network")
    ident = path_id(request, Network)
    change = (await parse_body(request, UpdateNetworkBody)).network
    changes = change.model_dump(exclude_unset=True)
    policy = state(request).policy
    if "shared" in changes:
        policy.enforce(actor, "network:update_network:shared")
    if "external" in changes:
        policy.enforce(actor, "network:update_network:router:external")
    if any(v is None for v in changes.values()):
        raise BadRequest("Invalid input: null is not a value of a network attribute")
    made = await run(request, lambda: commands(request).update_network(str(ident), changes, actor))
    return await shown_made(
        request, made, "network", "networks", actor, _network_query(actor), Network
    )


async def delete_network(request: Request) -> Response:
    actor = authorize(request, "network:delete_network")
    ident = path_id(request, Network)
    await run(request, lambda: commands(request).delete_network(str(ident), actor))
    return Response(status_code=204)


# Subnets ---------------------------------------------------------------------


class PoolIn(_Body):
    start: str = Field(max_length=64)
    end: str = Field(max_length=64)


class RouteIn(_Body):
    destination: str = Field(max_length=64)
    nexthop: str = Field(max_length=64)


class SubnetIn(_Body):
    network_id: str = Field(max_length=64)
    cidr: str = Field(default="", max_length=64)
    ip_version: int = 4
    name: str = Field(default="", max_length=255)
    description: str = Field(default="", max_length=255)
    gateway_ip: str | None = Field(default=None, max_length=64)
    allocation_pools: list[PoolIn] | None = Field(default=None, max_length=1000)
    enable_dhcp: bool = True
    dns_nameservers: list[str] = Field(default_factory=list, max_length=100)
    host_routes: list[RouteIn] = Field(default_factory=list, max_length=100)
    ipv6_ra_mode: str | None = Field(default=None, max_length=32)
    ipv6_address_mode: str | None = Field(default=None, max_length=32)
    tenant_id: str | None = Field(default=None, max_length=64)
    project_id: str | None = Field(default=None, max_length=64)
    subnetpool_id: str | None = Field(default=None, max_length=64)
    prefixlen: int | None = Field(default=None, ge=0, le=128)
    service_types: list[str] = Field(default_factory=list, max_length=0)
    segment_id: None = None


class CreateSubnetBody(_Body):
    subnet: SubnetIn | None = None
    subnets: list[SubnetIn] | None = Field(default=None, min_length=1, max_length=100)


class SubnetChange(_Body):
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    gateway_ip: str | None = Field(default=None, max_length=64)
    allocation_pools: list[PoolIn] | None = Field(default=None, max_length=1000)
    enable_dhcp: bool | None = None
    dns_nameservers: list[str] | None = Field(default=None, max_length=100)
    host_routes: list[RouteIn] | None = Field(default=None, max_length=100)


class UpdateSubnetBody(_Body):
    subnet: SubnetChange


def _subnet_spec(body: SubnetIn, actor: Actor) -> SubnetSpec:
    gateway = body.gateway_ip if "gateway_ip" in body.model_fields_set else AUTO
    pools = (
        tuple(AllocationPool(p.start, p.end) for p in body.allocation_pools)
        if body.allocation_pools is not None
        else None
    )
    return SubnetSpec(
        network_id=body.network_id,
        cidr=body.cidr,
        ip_version=body.ip_version,
        name=body.name,
        description=body.description,
        gateway_ip=gateway,
        allocation_pools=pools,
        enable_dhcp=body.enable_dhcp,
        dns_nameservers=tuple(body.dns_nameservers),
        host_routes=tuple(HostRoute(r.destination, r.nexthop) for r in body.host_routes),
        ipv6_ra_mode=body.ipv6_ra_mode or "",
        ipv6_address_mode=body.ipv6_address_mode or "",
        project_id=require_own_project(project_of(body), actor),
        subnetpool_id=body.subnetpool_id or "",
        prefixlen=body.prefixlen,
    )


def _subnet_query(actor: Actor) -> Any:
    return lambda ident: subnet_by_id(project_scope(actor), ident)


@accepts(CreateSubnetBody)
async def create_subnets(request: Request) -> JSONResponse:
    actor = authorize(request, "network:create_subnet")
    body = await parse_body(request, CreateSubnetBody)
    items, bulk = _one_or_many(body, "subnet", "subnets")
    specs = [_subnet_spec(item, actor) for item in items]
    made = await run(request, lambda: commands(request).create_subnets(specs, actor))
    if bulk:
        docs = await many_made(request, made.ids, "subnets", actor, _subnet_query(actor))
        return JSONResponse({"subnets": docs}, 201)
    return await shown_made(
        request, made, "subnet", "subnets", actor, _subnet_query(actor), Subnet, 201
    )


async def list_subnets(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_subnet")
    scope = project_scope(actor)
    return await list_answer(
        request, "subnets", actor, lambda ls: subnets_page(scope, ls), SUBNET_SORTS
    )


async def show_subnet(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_subnet")
    ident = path_id(request, Subnet)
    query = subnet_by_id(project_scope(actor), ident)
    return await one_answer(request, "subnet", "subnets", actor, query, Subnet, ident)


@accepts(UpdateSubnetBody)
async def update_subnet(request: Request) -> JSONResponse:
    actor = authorize(request, "network:update_subnet")
    ident = path_id(request, Subnet)
    change = (await parse_body(request, UpdateSubnetBody)).subnet
    changes: dict[str, Any] = {}
    for key in change.model_fields_set:
        value = getattr(change, key)
        if key == "gateway_ip":
            changes[key] = value or ""
        elif value is None:
            raise BadRequest(f"Invalid input for {key}: null is not a value")
        elif key == "allocation_pools":
            changes[key] = [AllocationPool(p.start, p.end) for p in value]
        elif key == "host_routes":
            changes[key] = [HostRoute(r.destination, r.nexthop) for r in value]
        else:
            changes[key] = value
    made = await run(request, lambda: commands(request).update_subnet(str(ident), changes, actor))
    return await shown_made(request, made, "subnet", "subnets", actor, _subnet_query(actor), Subnet)


async def delete_subnet(request: Request) -> Response:
    actor = authorize(request, "network:delete_subnet")
    ident = path_id(request, Subnet)
    await run(request, lambda: commands(request).delete_subnet(str(ident), actor))
    return Response(status_code=204)


routes = [
    Route(f"{PREFIX}/networks", create_networks, methods=["POST"]),
    Route(f"{PREFIX}/networks", list_networks, methods=["GET"]),
    Route(f"{PREFIX}/networks/{{id}}", show_network, methods=["GET"]),
    Route(f"{PREFIX}/networks/{{id}}", update_network, methods=["PUT"]),
    Route(f"{PREFIX}/networks/{{id}}", delete_network, methods=["DELETE"]),
    Route(f"{PREFIX}/subnets", create_subnets, methods=["POST"]),
    Route(f"{PREFIX}/subnets", list_subnets, methods=["GET"]),
    Route(f"{PREFIX}/subnets/{{id}}", show_subnet, methods=["GET"]),
    Route(f"{PREFIX}/subnets/{{id}}", update_subnet, methods=["PUT"]),
    Route(f"{PREFIX}/subnets/{{id}}", delete_subnet, methods=["DELETE"]),
]
