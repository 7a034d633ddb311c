"""Networking v2.0 subnet pools (the ``subnet_allocation`` extension):
prefixes subnets are carved from, in Neutron's shapes."""

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
    one_answer,
    path_id,
    project_of,
    project_scope,
    require_own_project,
    run,
    shown_made,
)
from api.responses import JSONResponse
from commands.network_subnet_pools import SubnetPoolSpec
from domain.subnet_pool import SubnetPool
from domain.values import Actor
from projections.network_networks import subnet_pool_by_id, subnet_pools_page

POOL_SORTS = ("name", "ip_version", "shared", "default_prefixlen", "created_at", "updated_at",
              "project_id", "tenant_id", "description")  # fmt: skip


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PoolIn(_Body):
    name: str = Field(max_length=255)
    prefixes: list[str] = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=255)
    default_prefixlen: int | None = Field(default=None, ge=0, le=128)
    min_prefixlen: int | None = Field(default=None, ge=0, le=128)
    max_prefixlen: int | None = Field(default=None, ge=0, le=128)
    shared: bool = False
    is_default: bool = Field(default=False, le=False)  # default pools are not served
    tenant_id: str | None = Field(default=None, max_length=64)
    project_id: str | None = Field(default=None, max_length=64)


class CreatePoolBody(_Body):
    subnetpool: PoolIn


class PoolChange(_Body):
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    prefixes: list[str] | None = Field(default=None, min_length=1, max_length=64)
    default_prefixlen: int | None = Field(default=None, ge=0, le=128)
    min_prefixlen: int | None = Field(default=None, ge=0, le=128)
    max_prefixlen: int | None = Field(default=None, ge=0, le=128)


class UpdatePoolBody(_Body):
    subnetpool: PoolChange


def _query(actor: Actor) -> Any:
    return lambda ident: subnet_pool_by_id(project_scope(actor), ident)


@accepts(CreatePoolBody)
async def create_pool(request: Request) -> JSONResponse:
    actor = authorize(request, "network:create_subnetpool")
    body = (await parse_body(request, CreatePoolBody)).subnetpool
    if body.shared:
        state(request).policy.enforce(actor, "network:create_subnetpool:shared")
    spec = SubnetPoolSpec(
        name=body.name,
        prefixes=tuple(body.prefixes),
        description=body.description,
        default_prefixlen=body.default_prefixlen,
        min_prefixlen=body.min_prefixlen,
        max_prefixlen=body.max_prefixlen,
        shared=body.shared,
        project_id=require_own_project(project_of(body), actor),
    )
    made = await run(request, lambda: commands(request).create_subnet_pool(spec, actor))
    return await shown_made(
        request, made, "subnetpool", "subnetpools", actor, _query(actor), SubnetPool, 201
    )


async def list_pools(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_subnetpool")
    scope = project_scope(actor)
    return await list_answer(
        request, "subnetpools", actor, lambda ls: subnet_pools_page(scope, ls), POOL_SORTS
    )


async def show_pool(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_subnetpool")
    ident = path_id(request, SubnetPool)
    query = subnet_pool_by_id(project_scope(actor), ident)
    return await one_answer(request, "subnetpool", "subnetpools", actor, query, SubnetPool, ident)


@accepts(UpdatePoolBody)
async def update_pool(request: Request) -> JSONResponse:
    actor = authorize(request, "network:update_subnetpool")
    ident = path_id(request, SubnetPool)
    change = (await parse_body(request, UpdatePoolBody)).subnetpool
    changes: dict[str, object] = change.model_dump(exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise BadRequest("Invalid input: null is not a value of a subnet pool attribute")
    made = await run(
        request, lambda: commands(request).update_subnet_pool(str(ident), changes, actor)
    )
    return await shown_made(
        request, made, "subnetpool", "subnetpools", actor, _query(actor), SubnetPool
    )


async def delete_pool(request: Request) -> Response:
    actor = authorize(request, "network:delete_subnetpool")
    ident = path_id(request, SubnetPool)
    await run(request, lambda: commands(request).delete_subnet_pool(str(ident), actor))
    return Response(status_code=204)


routes = [
    Route(f"{PREFIX}/subnetpools", create_pool, methods=["POST"]),
    Route(f"{PREFIX}/subnetpools", list_pools, methods=["GET"]),
    Route(f"{PREFIX}/subnetpools/{{id}}", show_pool, methods=["GET"]),
    Route(f"{PREFIX}/subnetpools/{{id}}", update_pool, methods=["PUT"]),
    Route(f"{PREFIX}/subnetpools/{{id}}", delete_pool, methods=["DELETE"]),
]
