"""Networking v2.0 security groups and rules, in Neutron's shapes. A
project's ``default`` group is made the first time the project lists (or
otherwise uses) its groups, as Neutron does."""

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
)
from api.responses import JSONResponse
from commands.network_batch import NeutronNotFound, SecurityGroupRuleKind
from commands.network_security import RuleSpec
from domain.security_group import SecurityGroup
from domain.values import Actor
from projections.network_security import group_by_id, groups_page, rule_by_id, rules_page

GROUP_SORTS = ("name", "description", "created_at", "updated_at", "project_id", "tenant_id")
RULE_SORTS = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max",
              "remote_ip_prefix", "remote_group_id", "security_group_id", "created_at",
              "updated_at", "project_id", "tenant_id", "description")  # fmt: skip


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class GroupIn(_Body):
    name: str = Field(default="", max_length=255)
    description: str = Field(default="", max_length=255)
    tenant_id: str | None = Field(default=None, max_length=64)
    project_id: str | None = Field(default=None, max_length=64)


class CreateGroupBody(_Body):
    security_group: GroupIn


class GroupChange(_Body):
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=255)


class UpdateGroupBody(_Body):
    security_group: GroupChange


class RuleIn(_Body):
    security_group_id: str = Field(max_length=64)
    direction: str | None = Field(default=None, max_length=16)
    ethertype: str | None = Field(default="IPv4", max_length=16)
    protocol: str | int | None = Field(default=None)
    port_range_min: int | str | None = None
    port_range_max: int | str | None = None
    remote_ip_prefix: str | None = Field(default=None, max_length=64)
    remote_group_id: str | None = Field(default=None, max_length=64)
    description: str = Field(default="", max_length=255)
    tenant_id: str | None = Field(default=None, max_length=64)
    project_id: str | None = Field(default=None, max_length=64)


class CreateRuleBody(_Body):
    security_group_rule: RuleIn


async def ensure_default_group(request: Request, actor: Actor) -> None:
    """The caller's project has its default group once this returns."""
    network = state(request).network
    project = actor.project_id
    if project in network.default_groups:
        return
    await run(request, lambda: network.commands.ensure_default_group(project, actor))
    network.default_groups.add(project)


def _group_query(actor: Actor) -> Any:
    return lambda ident: group_by_id(project_scope(actor), ident)


@accepts(CreateGroupBody)
async def create_group(request: Request) -> JSONResponse:
    actor = authorize(request, "network:create_security_group")
    body = (await parse_body(request, CreateGroupBody)).security_group
    project = require_own_project(project_of(body), actor)
    made = await run(
        request,
        lambda: commands(request).create_security_group(
            body.name, body.description, project, actor
        ),
    )
    query = _group_query(actor)
    return await shown_made(
        request, made, "security_group", "security_groups", actor, query, SecurityGroup, 201
    )


async def list_groups(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_security_group")
    await ensure_default_group(request, actor)
    scope = project_scope(actor)
    return await list_answer(
        request, "security_groups", actor, lambda ls: groups_page(scope, ls), GROUP_SORTS
    )


async def show_group(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_security_group")
    ident = path_id(request, SecurityGroup)
    query = group_by_id(project_scope(actor), ident)
    return await one_answer(
        request, "security_group", "security_groups", actor, query, SecurityGroup, ident
    )


@accepts(UpdateGroupBody)
async def update_group(request: Request) -> JSONResponse:
    actor = authorize(request, "network:update_security_group")
    ident = path_id(request, SecurityGroup)
    change = (await parse_body(request, UpdateGroupBody)).security_group
    made = await run(
        request,
        lambda: commands(request).update_security_group(
            str(ident), change.name, change.description, actor
        ),
    )
    query = _group_query(actor)
    return await shown_made(
        request, made, "security_group", "security_groups", actor, query, SecurityGroup
    )


async def delete_group(request: Request) -> Response:
    actor = authorize(request, "network:delete_security_group")
    ident = path_id(request, SecurityGroup)
    await run(request, lambda: commands(request).delete_security_group(str(ident), actor))
    return Response(status_code=204)


# Rules -----------------------------------------------------------------------


@accepts(CreateRuleBody)
async def create_rule(request: Request) -> JSONResponse:
    actor = authorize(request, "network:create_security_group_rule")
    body = (await parse_body(request, CreateRuleBody)).security_group_rule
    require_own_project(project_of(body), actor)
    spec = RuleSpec(
        security_group_id=body.security_group_id,
        direction=body.direction,
        ethertype=body.ethertype,
        protocol=body.protocol,
        port_range_min=body.port_range_min,
        port_range_max=body.port_range_max,
        remote_ip_prefix=body.remote_ip_prefix,
        remote_group_id=body.remote_group_id,
        description=body.description,
    )
    made = await run(request, lambda: commands(request).create_security_group_rule(spec, actor))
    rule_id = made.extra
    query = rule_by_id(project_scope(actor), rule_id)
    return await one_answer(
        request,
        "security_group_rule",
        "security_group_rules",
        actor,
        query,
        SecurityGroupRuleKind,
        rule_id,
        201,
    )


async def list_rules(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_security_group_rule")
    await ensure_default_group(request, actor)
    scope = project_scope(actor)
    return await list_answer(
        request, "security_group_rules", actor, lambda ls: rules_page(scope, ls), RULE_SORTS
    )


async def show_rule(request: Request) -> JSONResponse:
    actor = authorize(request, "network:get_security_group_rule")
    ident = path_id(request, SecurityGroupRuleKind)
    query = rule_by_id(project_scope(actor), ident)
    return await one_answer(
        request,
        "security_group_rule",
        "security_group_rules",
        actor,
        query,
        SecurityGroupRuleKind,
        ident,
    )


async def delete_rule(request: Request) -> Response:
    actor = authorize(request, "network:delete_security_group_rule")
    ident = path_id(request, SecurityGroupRuleKind)
    row = await state(request).reads.one(rule_by_id(project_scope(actor), ident))
    if row is None:
        raise NeutronNotFound(SecurityGroupRuleKind, ident)
    group_id = row["doc"]["security_group_id"]
    await run(
        request,
        lambda: commands(request).delete_security_group_rule(group_id, str(ident), actor),
    )
    return Response(status_code=204)


routes = [
    Route(f"{PREFIX}/security-groups", create_group, methods=["POST"]),
    Route(f"{PREFIX}/security-groups", list_groups, methods=["GET"]),
    Route(f"{PREFIX}/security-groups/{{id}}", show_group, methods=["GET"]),
    Route(f"{PREFIX}/security-groups/{{id}}", update_group, methods=["PUT"]),
    Route(f"{PREFIX}/security-groups/{{id}}", delete_group, methods=["DELETE"]),
    Route(f"{PREFIX}/security-group-rules", create_rule, methods=["POST"]),
    Route(f"{PREFIX}/security-group-rules", list_rules, methods=["GET"]),
    Route(f"{PREFIX}/security-group-rules/{{id}}", show_rule, methods=["GET"]),
    Route(f"{PREFIX}/security-group-rules/{{id}}", delete_rule, methods=["DELETE"]),
]
