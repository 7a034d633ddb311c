"""Networking v2.0 routers (with their interfaces and gateway) and floating
IPs, in Neutron's shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import accepts, authorize, parse_body, state
from api.neutron_common import (
    PREFIX,
    commands,
    list_answer,
    one_answer,
    path_id,
    project_of,
    project_scope,
    require_own_project,
    run,
    shown_made,
    wait_for,
)
from api.responses import JSONResponse
from commands.network_floating_ips import FloatingIpSpec
from commands.network_ports import FixedIpRequest
from commands.network_routers import UNSET, GatewaySpec, Interface, RouterSpec
from domain.floating_ip import FloatingIP
from domain.network_values import HostRoute
from domain.router import Router
from domain.values import Actor
from projections.network_routers import (
    floating_ip_by_id,
    floating_ips_page,
    router_by_id,
    routers_page,
)

ROUTER_SORTS = ("name", "status", "admin_state_up", "created_at", "updated_at", "project_id",
                "tenant_id", "description")  # fmt: skip
FIP_SORTS = ("floating_ip_address", "fixed_ip_address", "floating_network_id", "port_id",
             "router_id", "status", "created_at", "updated_at", "project_id", "tenant_id",
             "description")  # fmt: skip


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FixedIpIn(_Body):
    subnet_id: str = Field(default="", max_length=64)
    ip_address: str = Field(default="", max_length=64)


class GatewayIn(_Body):
    network_id: str | None = Field(default=None, max_length=64)
    enable_snat: bool | None = None
    external_fixed_ips: list[FixedIpIn] | None = Field(default=None, max_length=16)


class RouteIn(_Body):
    destination: str = Field(max_length=64)
    nexthop: str = Field(max_length=64)


class RouterIn(_Body):
    name: str = Field(default="", max_length=255)
    description: str = Field(default="", max_length=255)
    admin_state_up: bool = True
    external_gateway_info: GatewayIn | None = None
    tenant_id: str | None = Field(default=None, max_length=64)
    project_id: str | None = Field(default=None, max_length=64)
    availability_zone_hints: list[str] = Field(default_factory=list, max_length=0)


class CreateRouterBody(_Body):
    router: RouterIn


class RouterChange(_Body):
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    admin_state_up: bool | None = None
    external_gateway_info: GatewayIn | None = None
    routes: list[RouteIn] | None = Field(default=None, max_length=100)


class UpdateRouterBody(_Body):
    router: RouterChange


class InterfaceBody(_Body):
    subnet_id: str = Field(default="", max_length=64)
    port_id: str = Field(default="", max_length=64)


def _gateway(
    request: Request, info: GatewayIn | None, actor: Actor, verb: str
) -> GatewaySpec | None:
    """None for no gateway ({} or null, as Neutron reads both)."""
    if info is None or not info.network_id:
        return None
    policy = state(request).policy
    if info.enable_snat is not None:
        policy.enforce(actor, f"network:{verb}_router:external_gateway_info:enable_snat")
    if info.external_fixed_ips is not None:
        policy.enforce(actor, f"network:{verb}_router:external_gateway_info:external_fixed_ips")
    fixed = (
        tuple(FixedIpRequest(f.subnet_id, f.ip_address) for f in info.external_fixed_ips)
        if info.external_fixed_ips is not None
        else None
    )
    return GatewaySpec(info.network_id, info.enable_snat, fixed)


def _query(actor: Actor) -> Any:
    return lambda ident: router_by_id(project_scope(actor), ident)


@accepts(CreateRouterBody)
async def create_router(request: Request) -> JSONResponse:
    actor = authorize(request, "network:create_router")
    body = (await parse_body(request, CreateRouterBody)).router
    spec = RouterSpec(
        name=body.name,
        description=body.description,
        admin_state_up=body.admin_state_up,
        gateway=_gateway(request, body.external_gateway_info, actor, "create"),
        project_id=require_own_project(project_of(body), actor),
    )
    made = await run(request, lambda: commands(request).create_router(spec, actor))
    return await shown_made(request, made, "router", "routers", actor, _query(actor), Router, 201)


async def list_routers(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_router")
    scope = project_scope(actor)
    return await list_answer(
        request, "routers", actor, lambda ls: routers_page(scope, ls), ROUTER_SORTS
    )


async def show_router(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_router")
    ident = path_id(request, Router)
    query = router_by_id(project_scope(actor), ident)
    return await one_answer(request, "router", "routers", actor, query, Router, ident)


@accepts(UpdateRouterBody)
async def update_router(request: Request) -> JSONResponse:
    actor = authorize(request, "network:update_router")
    ident = path_id(request, Router)
    change = (await parse_body(request, UpdateRouterBody)).router
    given = change.model_fields_set
    plain: dict[str, object] = {
        k: getattr(change, k) for k in ("name", "description", "admin_state_up") if k in given
    }
    gateway: object = UNSET
    if "external_gateway_info" in given:
        gateway = _gateway(request, change.external_gateway_info, actor, "update")
    routes: object = UNSET
    if "routes" in given:
        routes = [HostRoute(r.destination, r.nexthop) for r in change.routes or []]
    made = await run(
        request,
        lambda: commands(request).update_router(str(ident), plain, gateway, routes, actor),
    )
    return await shown_made(request, made, "router", "routers", actor, _query(actor), Router)


async def delete_router(request: Request) -> Response:
    actor = authorize(request, "network:delete_router")
    ident = path_id(request, Router)
    await run(request, lambda: commands(request).delete_router(str(ident), actor))
    return Response(status_code=204)


def _interface_answer(interface: Interface) -> dict[str, Any]:
    router = interface.router
    return {
        "id": str(router.id),
        "tenant_id": router.project_id,
        "project_id": router.project_id,
        "port_id": interface.port_id,
        "subnet_id": interface.subnet_id,
        "subnet_ids": [interface.subnet_id],
        "network_id": interface.network_id,
    }


@accepts(InterfaceBody)
async def add_interface(request: Request) -> JSONResponse:
    actor = authorize(request, "network:add_router_interface")
    ident = path_id(request, Router)
    body = await parse_body(request, InterfaceBody)
    made = await run(
        request,
        lambda: commands(request).add_router_interface(
            str(ident), body.subnet_id, body.port_id, actor
        ),
    )
    return JSONResponse(_interface_answer(made.extra))


@accepts(InterfaceBody)
async def remove_interface(request: Request) -> JSONResponse:
    actor = authorize(request, "network:remove_router_interface")
    ident = path_id(request, Router)
    body = await parse_body(request, InterfaceBody)
    made = await run(
        request,
        lambda: commands(request).remove_router_interface(
            str(ident), body.subnet_id, body.port_id, actor
        ),
    )
    return JSONResponse(_interface_answer(made.extra))


# Floating IPs ----------------------------------------------------------------


class FloatingIpIn(_Body):
    floating_network_id: str = Field(max_length=64)
    floating_ip_address: str = Field(default="", max_length=64)
    subnet_id: str = Field(default="", max_length=64)
    port_id: str | None = Field(default=None, max_length=64)
    fixed_ip_address: str | None = Field(default=None, max_length=64)
    description: str = Field(default="", max_length=255)
    tenant_id: str | None = Field(default=None, max_length=64)
    project_id: str | None = Field(default=None, max_length=64)


class CreateFloatingIpBody(_Body):
    floatingip: FloatingIpIn


class FloatingIpChange(_Body):
    port_id: str | None = Field(default=None, max_length=64)
    fixed_ip_address: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=255)


class UpdateFloatingIpBody(_Body):
    floatingip: FloatingIpChange


def _fip_query(actor: Actor) -> Any:
    return lambda ident: floating_ip_by_id(project_scope(actor), ident)


@accepts(CreateFloatingIpBody)
async def create_floating_ip(request: Request) -> JSONResponse:
    actor = authorize(request, "network:create_floatingip")
    body = (await parse_body(request, CreateFloatingIpBody)).floatingip
    if body.floating_ip_address:
        state(request).policy.enforce(actor, "network:create_floatingip:floating_ip_address")
    spec = FloatingIpSpec(
        floating_network_id=body.floating_network_id,
        floating_ip_address=body.floating_ip_address,
        subnet_id=body.subnet_id,
        port_id=body.port_id or "",
        fixed_ip_address=body.fixed_ip_address or "",
        description=body.description,
        project_id=require_own_project(project_of(body), actor),
    )
    made = await state(request).network.floating_ips.run(spec.floating_network_id, (spec, actor))
    await wait_for(request, made)
    query = _fip_query(actor)
    return await shown_made(
        request, made, "floatingip", "floatingips", actor, query, FloatingIP, 201
    )


async def list_floating_ips(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_floatingip")
    scope = project_scope(actor)
    return await list_answer(
        request, "floatingips", actor, lambda ls: floating_ips_page(scope, ls), FIP_SORTS
    )


async def show_floating_ip(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_floatingip")
    ident = path_id(request, FloatingIP)
    query = floating_ip_by_id(project_scope(actor), ident)
    return await one_answer(request, "floatingip", "floatingips", actor, query, FloatingIP, ident)


@accepts(UpdateFloatingIpBody)
async def update_floating_ip(request: Request) -> JSONResponse:
    actor = authorize(request, "network:update_floatingip")
    ident = path_id(request, FloatingIP)
    change = (await parse_body(request, UpdateFloatingIpBody)).floatingip
    given = change.model_fields_set
    port: object = UNSET
    if "port_id" in given:
        port = change.port_id or None
    fixed = change.fixed_ip_address or ""
    made = await run(
        request,
        lambda: commands(request).update_floating_ip(
            str(ident), port, fixed, change.description, actor
        ),
    )
    return await shown_made(
        request, made, "floatingip", "floatingips", actor, _fip_query(actor), FloatingIP
    )


async def delete_floating_ip(request: Request) -> Response:
    actor = authorize(request, "network:delete_floatingip")
    ident = path_id(request, FloatingIP)
    await run(request, lambda: commands(request).delete_floating_ip(str(ident), actor))
    return Response(status_code=204)


routes = [
    Route(f"{PREFIX}/routers", create_router, methods=["POST"]),
    Route(f"{PREFIX}/routers", list_routers, methods=["GET"]),
    Route(f"{PREFIX}/routers/{{id}}", show_router, methods=["GET"]),
    Route(f"{PREFIX}/routers/{{id}}", update_router, methods=["PUT"]),
    Route(f"{PREFIX}/routers/{{id}}", delete_router, methods=["DELETE"]),
    Route(f"{PREFIX}/routers/{{id}}/add_router_interface", add_interface, methods=["PUT"]),
    Route(f"{PREFIX}/routers/{{id}}/remove_router_interface", remove_interface, methods=["PUT"]),
    Route(f"{PREFIX}/floatingips", create_floating_ip, methods=["POST"]),
    Route(f"{PREFIX}/floatingips", list_floating_ips, methods=["GET"]),
    Route(f"{PREFIX}/floatingips/{{id}}", show_floating_ip, methods=["GET"]),
    Route(f"{PREFIX}/floatingips/{{id}}", update_floating_ip, methods=["PUT"]),
    Route(f"{PREFIX}/floatingips/{{id}}", delete_floating_ip, methods=["DELETE"]),
]
