"""Networking v2.0 ports, in Neutron's shapes. Concurrent creates on one
network are gathered and made in one save (api/neutron_state.py)."""

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
    wait_for,
)
from api.responses import JSONResponse
from commands.network_port_changes import PortUpdate
from commands.network_ports import FixedIpRequest, PortSpec
from domain.network_values import COMPUTE_OWNER_PREFIX
from domain.port import Port
from domain.values import Actor
from projections.network_ports import port_by_id, ports_page

PORT_SORTS = ("name", "status", "admin_state_up", "network_id", "mac_address", "device_id",
              "device_owner", "created_at", "updated_at", "project_id", "tenant_id",
              "description")  # fmt: skip
RESERVED_OWNERS = ("network:", COMPUTE_OWNER_PREFIX)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FixedIpIn(_Body):
    subnet_id: str = Field(default="", max_length=64)
    ip_address: str = Field(default="", max_length=64)


class PortIn(_Body):
    network_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=255)
    description: str = Field(default="", max_length=255)
    admin_state_up: bool = True
    mac_address: str = Field(default="", max_length=32)
    fixed_ips: list[FixedIpIn] | None = Field(default=None, max_length=100)
    device_id: str = Field(default="", max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$")
    device_owner: str = Field(default="", max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$")
    security_groups: list[str] | None = Field(default=None, max_length=100)
    port_security_enabled: bool | None = None
    host_id: str = Field(default="", alias="binding:host_id", max_length=255)
    vnic_type: str = Field(default="normal", alias="binding:vnic_type", pattern="^normal$")
    profile: dict[str, str] = Field(default_factory=dict, alias="binding:profile", max_length=0)
    tenant_id: str | None = Field(default=None, max_length=64)
    project_id: str | None = Field(default=None, max_length=64)


class CreatePortBody(_Body):
    port: PortIn | None = None
    ports: list[PortIn] | None = Field(default=None, min_length=1, max_length=100)


class PortChange(_Body):
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    admin_state_up: bool | None = None
    fixed_ips: list[FixedIpIn] | None = Field(default=None, max_length=100)
    security_groups: list[str] | None = Field(default=None, max_length=100)
    port_security_enabled: bool | None = None
    host_id: str | None = Field(default=None, alias="binding:host_id", max_length=255)


class UpdatePortBody(_Body):
    port: PortChange


def _fixed(entries: list[FixedIpIn] | None) -> tuple[FixedIpRequest, ...] | None:
    if entries is None:
        return None
    return tuple(FixedIpRequest(e.subnet_id, e.ip_address) for e in entries)


def _spec(request: Request, body: PortIn, actor: Actor) -> PortSpec:
    policy = state(request).policy
    if body.device_owner.startswith(RESERVED_OWNERS):
        policy.enforce(actor, "network:create_port:device_owner")
    if "host_id" in body.model_fields_set:
        policy.enforce(actor, "network:create_port:binding")
    return PortSpec(
        network_id=body.network_id,
        name=body.name,
        description=body.description,
        admin_state_up=body.admin_state_up,
        mac_address=body.mac_address,
        fixed_ips=_fixed(body.fixed_ips),
        device_id=body.device_id,
        device_owner=body.device_owner,
        security_groups=tuple(body.security_groups) if body.security_groups is not None else None,
        port_security_enabled=body.port_security_enabled,
        host=body.host_id,
        project_id=require_own_project(project_of(body), actor),
    )


def _query(actor: Actor) -> Any:
    return lambda ident: port_by_id(project_scope(actor), ident)


@accepts(CreatePortBody)
async def create_ports(request: Request) -> JSONResponse:
    actor = authorize(request, "network:create_port")
    body = await parse_body(request, CreatePortBody)
    if (body.port is None) == (body.ports is None):
        raise BadRequest("Resource body required: give 'port' or 'ports'")
    if body.ports is not None:
        specs = [_spec(request, item, actor) for item in body.ports]
        made = await run(request, lambda: commands(request).create_ports_bulk(specs, actor))
        docs = await many_made(request, made.ids, "ports", actor, _query(actor))
        return JSONResponse({"ports": docs}, 201)
    assert body.port is not None
    spec = _spec(request, body.port, actor)
    made = await state(request).network.ports.run(spec.network_id, (spec, actor))
    await wait_for(request, made)
    return await shown_made(request, made, "port", "ports", actor, _query(actor), Port, 201)


async def list_ports(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_port")
    scope = project_scope(actor)
    return await list_answer(request, "ports", actor, lambda ls: ports_page(scope, ls), PORT_SORTS)


async def show_port(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_port")
    ident = path_id(request, Port)
    query = port_by_id(project_scope(actor), ident)
    return await one_answer(request, "port", "ports", actor, query, Port, ident)


@accepts(UpdatePortBody)
async def update_port(request: Request) -> JSONResponse:
    actor = authorize(request, "network:update_port")
    ident = path_id(request, Port)
    change = (await parse_body(request, UpdatePortBody)).port
    given = change.model_fields_set
    if "host_id" in given:
        state(request).policy.enforce(actor, "network:update_port:binding")
    plain: dict[str, object] = {
        k: getattr(change, k) for k in ("name", "description", "admin_state_up") if k in given
    }
    if any(v is None for v in plain.values()):
        raise BadRequest("Invalid input: null is not a value of a port attribute")
    update = PortUpdate(
        fixed_ips=_fixed(change.fixed_ips) if "fixed_ips" in given else None,
        security_groups=(
            tuple(change.security_groups or ()) if "security_groups" in given else None
        ),
        port_security_enabled=change.port_security_enabled,
        host=(change.host_id or "") if "host_id" in given else None,
    )
    made = await run(
        request, lambda: commands(request).update_port(str(ident), plain, update, actor)
    )
    return await shown_made(request, made, "port", "ports", actor, _query(actor), Port)


async def delete_port(request: Request) -> Response:
    actor = authorize(request, "network:delete_port")
    ident = path_id(request, Port)
    await run(request, lambda: commands(request).delete_port(str(ident), actor))
    return Response(status_code=204)


routes = [
    Route(f"{PREFIX}/ports", create_ports, methods=["POST"]),
    Route(f"{PREFIX}/ports", list_ports, methods=["GET"]),
    Route(f"{PREFIX}/ports/{{id}}", show_port, methods=["GET"]),
    Route(f"{PREFIX}/ports/{{id}}", update_port, methods=["PUT"]),
    Route(f"{PREFIX}/ports/{{id}}", delete_port, methods=["DELETE"]),
]
