"""Identity v3 roles and role assignments (grants on projects and domains)."""

from __future__ import annotations

from typing import Any

from psycopg.rows import DictRow
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import identity_shapes as shapes
from api import identity_targets as targets
from api.context import (
    NO_CONTROL_CHARS,
    accepts,
    authenticate,
    authorize,
    parse_body,
    read_your_writes,
    state,
)
from api.policy import implied_roles
from api.responses import JSONResponse
from commands.identity import CreateRole, GrantRole
from domain.domains import BUILT_IN_ROLES
from domain.errors import NotFound
from domain.values import Actor
from projections import identity as views


async def _roles(request: Request, name: str | None = None) -> list[dict[str, Any]]:
    built_in = [shapes.role(request, r) for r in BUILT_IN_ROLES if name in (None, r)]
    rows = await state(request).reads.all(views.custom_roles(name))
    return built_in + [shapes.role(request, r["name"], r["description"]) for r in rows]


async def list_roles(request: Request) -> JSONResponse:
    authorize(request, "identity:list_roles")
    roles = await _roles(request, request.query_params.get("name"))
    return shapes.collection(request, "roles", roles)


async def get_role(request: Request) -> JSONResponse:
    authorize(request, "identity:get_role")
    role = request.path_params["id"]
    found = await _roles(request, role)
    if not found:
        raise NotFound(f"Could not find role: {role}.")
    return JSONResponse({"role": found[0]})


class _NewRole(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
    description: str = Field(default="", max_length=255)


class CreateRoleBody(BaseModel):
    role: _NewRole


@accepts(CreateRoleBody)
async def create_role(request: Request) -> JSONResponse:
    actor = authorize(request, "identity:create_role")
    spec = (await parse_body(request, CreateRoleBody)).role
    cmd = CreateRole(spec.name, spec.description)
    receipt = await run_in_threadpool(state(request).services.create_role, cmd, actor)
    await read_your_writes(request, receipt)
    return JSONResponse({"role": shapes.role(request, spec.name, spec.description)}, 201)


async def list_role_assignments(request: Request) -> JSONResponse:
    """A domain-scoped token lists the assignments on its own domain and on
    its projects only (Keystone's filter)."""
    actor = authenticate(request)
    target = targets.own_domain(actor, "target.domain_id")
    state(request).policy.enforce(actor, "identity:list_role_assignments", target)
    params = request.query_params
    names = params.get("include_names", "false").lower() in ("1", "true", "")  # "" : given bare
    query = views.assignments(
        params.get("user.id"),
        params.get("scope.project.id"),
        params.get("scope.domain.id"),
        None if "effective" in params else params.get("role.id"),
        within_domain=actor.domain_id or None,
    )
    rows = await state(request).reads.all(query)
    if "effective" in params:  # with the roles each one implies
        rows = _with_implied(rows, params.get("role.id"))
    found = [shapes.assignment(request, r, names) for r in rows]
    return shapes.collection(request, "role_assignments", found)


def _with_implied(rows: list[DictRow], role: str | None) -> list[DictRow]:
    seen: set[tuple[str, str, str, str]] = set()
    expanded: list[DictRow] = []
    for row in rows:
        for implied in implied_roles(row["role"]):
            key = (row["user_id"], row["scope"], row["target_id"], implied)
            if key not in seen and role in (None, implied):
                seen.add(key)
                expanded.append(DictRow({**row, "role": implied}))
    return expanded


def _grant(request: Request) -> GrantRole:
    """The grant the path names ("" for the role when listing them)."""
    p = request.path_params
    if "domain_id" in p:
        return GrantRole(p["user_id"], "", p.get("role", ""), domain_id=p["domain_id"])
    return GrantRole(p["user_id"], p["project_id"], p.get("role", ""))


async def _authorize_grant(request: Request, rule: str) -> tuple[Actor, GrantRole]:
    """The caller, once the rule allows it on this user, this project or
    domain, and this role (a domain's admin: its own users, on its own
    domain or projects)."""
    actor, grant = authenticate(request), _grant(request)
    named = {targets.USER: grant.user_id}
    known = {"target.role.name": grant.role} if grant.role else {}
    if grant.domain_id:
        known.update(targets.domain(grant.domain_id))
    else:
        named[targets.PROJECT] = grant.project_id
    await targets.enforce(request, actor, rule, named, known)
    return actor, grant


async def create_grant(request: Request) -> Response:
    actor, grant = await _authorize_grant(request, "identity:create_grant")
    receipt = await run_in_threadpool(state(request).services.grant_role, grant, actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204)


async def revoke_grant(request: Request) -> Response:
    """The user's tokens on that project or domain stop working."""
    actor, grant = await _authorize_grant(request, "identity:revoke_grant")
    receipt = await run_in_threadpool(state(request).services.revoke_role, grant, actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204)


async def check_grant(request: Request) -> Response:
    _, grant = await _authorize_grant(request, "identity:check_grant")
    query = views.assignments(
        grant.user_id, grant.project_id or None, grant.domain_id or None, grant.role
    )
    if not await state(request).reads.all(query):
        raise NotFound(f"Could not find role assignment with role: {grant.role}.")
    return Response(status_code=204)


async def list_grants(request: Request) -> JSONResponse:
    """The roles a user holds directly on one project or domain."""
    _, grant = await _authorize_grant(request, "identity:list_grants")
    project, domain = grant.project_id or None, grant.domain_id or None
    rows = await state(request).reads.all(views.assignments(grant.user_id, project, domain))
    return shapes.collection(request, "roles", [shapes.role(request, r["role"]) for r in rows])


_ON_PROJECT = "/identity/v3/projects/{project_id}/users/{user_id}/roles"
_ON_DOMAIN = "/identity/v3/domains/{domain_id}/users/{user_id}/roles"

routes = [
    Route("/identity/v3/roles", list_roles, methods=["GET"]),
    Route("/identity/v3/roles", create_role, methods=["POST"]),
    Route("/identity/v3/roles/{id}", get_role, methods=["GET"]),
    Route("/identity/v3/role_assignments", list_role_assignments, methods=["GET"]),
    *(
        route
        for base in (_ON_PROJECT, _ON_DOMAIN)
        for route in (
            Route(base, list_grants, methods=["GET"]),
            Route(base + "/{role}", create_grant, methods=["PUT"]),
            Route(base + "/{role}", check_grant, methods=["GET", "HEAD"]),
            Route(base + "/{role}", revoke_grant, methods=["DELETE"]),
        )
    ),
]
