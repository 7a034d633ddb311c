"""Identity v3 lookups: domains, projects, users, roles and role assignments,
served from the identity read model in the shapes Keystone answers."""

from __future__ import annotations

from typing import Any

from psycopg.rows import DictRow
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import (
    NO_CONTROL_CHARS,
    authenticate,
    authorize,
    base_url,
    parse_body,
    read_your_writes,
    state,
)
from api.errors import BadRequest
from api.responses import JSONResponse
from commands.identity import ChangePassword, CreateProject, CreateUser, GrantRole
from domain.errors import NotFound
from domain.identity import ROLES
from projections import identity as views

DEFAULT_DOMAIN = {
    "id": views.DEFAULT_DOMAIN,
    "name": "Default",
    "description": "The default domain",
    "enabled": True,
    "tags": [],
    "options": {},
}
_DOMAIN_REF = {"id": views.DEFAULT_DOMAIN, "name": "Default"}


def _self(request: Request, path: str) -> dict[str, str]:
    return {"self": f"{base_url(request)}/identity/v3/{path}"}


def _collection(request: Request, kind: str, items: list[dict[str, Any]]) -> JSONResponse:
    links = {**_self(request, kind), "previous": None, "next": None}
    return JSONResponse({kind: items, "links": links})


def _project(request: Request, row: DictRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "domain_id": row["domain_id"],
        "description": row["description"],
        "enabled": row["enabled"],
        "parent_id": row["domain_id"],
        "is_domain": False,
        "tags": [],
        "options": {},
        "links": _self(request, f"projects/{row['id']}"),
    }


def _user(request: Request, row: DictRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "domain_id": row["domain_id"],
        "enabled": row["enabled"],
        "default_project_id": row["default_project_id"],
        "password_expires_at": None,
        "options": {},
        "links": _self(request, f"users/{row['id']}"),
    }


def _role(request: Request, name: str) -> dict[str, Any]:
    return {
        "id": name,
        "name": name,
        "domain_id": None,
        "description": None,
        "options": {},
        "links": _self(request, f"roles/{name}"),
    }


async def list_domains(request: Request) -> JSONResponse:
    authorize(request, "identity:list_domains")
    wanted = request.query_params.get("name")
    domains = [DEFAULT_DOMAIN] if wanted in (None, DEFAULT_DOMAIN["name"]) else []
    return _collection(
        request, "domains", [{**d, "links": _self(request, f"domains/{d['id']}")} for d in domains]
    )


async def get_domain(request: Request) -> JSONResponse:
    authorize(request, "identity:get_domain")
    if request.path_params["id"] != views.DEFAULT_DOMAIN:
        raise NotFound(f"Could not find domain: {request.path_params['id']}.")
    domain = {**DEFAULT_DOMAIN, "links": _self(request, f"domains/{views.DEFAULT_DOMAIN}")}
    return JSONResponse({"domain": domain})


async def list_projects(request: Request) -> JSONResponse:
    authorize(request, "identity:list_projects")
    query = views.projects(name=request.query_params.get("name"))
    rows = await state(request).reads.all(query)
    return _collection(request, "projects", [_project(request, r) for r in rows])


async def get_project(request: Request) -> JSONResponse:
    actor = authenticate(request)
    project_id = request.path_params["id"]
    policy, target = state(request).policy, {"project_id": project_id}
    if project_id == actor.project_id:
        policy.enforce(actor, "identity:get_project", target)
    elif not policy.allowed(actor, "identity:get_project", target):
        raise NotFound(f"Could not find project: {project_id}.")  # as if it did not exist
    row = await state(request).reads.one(views.project_by_id(project_id))
    if row is None:
        raise NotFound(f"Could not find project: {project_id}.")
    return JSONResponse({"project": _project(request, row)})


async def list_users(request: Request) -> JSONResponse:
    authorize(request, "identity:list_users")
    rows = await state(request).reads.all(views.users(name=request.query_params.get("name")))
    return _collection(request, "users", [_user(request, r) for r in rows])


async def get_user(request: Request) -> JSONResponse:
    actor = authenticate(request)
    user_id = request.path_params["id"]
    state(request).policy.enforce(actor, "identity:get_user", {"user_id": user_id})
    row = await state(request).reads.one(views.user_by_id(user_id))
    if row is None:
        raise NotFound(f"Could not find user: {user_id}.")
    return JSONResponse({"user": _user(request, row)})


async def list_roles(request: Request) -> JSONResponse:
    authorize(request, "identity:list_roles")
    wanted = request.query_params.get("name")
    names = [r for r in ROLES if wanted in (None, r)]
    return _collection(request, "roles", [_role(request, r) for r in names])


async def list_role_assignments(request: Request) -> JSONResponse:
    authorize(request, "identity:list_role_assignments")
    params = request.query_params
    names = params.get("include_names", "false").lower() in ("1", "true", "")  # "" : given bare
    query = views.assignments(params.get("user.id"), params.get("scope.project.id"))
    rows = await state(request).reads.all(query)
    base = base_url(request)
    found = []
    for r in rows:
        role: dict[str, Any] = {"id": r["role"]}
        user: dict[str, Any] = {"id": r["user_id"]}
        project: dict[str, Any] = {"id": r["project_id"]}
        if names:
            role["name"] = r["role"]
            user.update(name=r["user_name"], domain=_DOMAIN_REF)
            project.update(name=r["project_name"], domain=_DOMAIN_REF)
        assignment = f"{base}/identity/v3/projects/{r['project_id']}/users/{r['user_id']}"
        found.append(
            {
                "role": role,
                "user": user,
                "scope": {"project": project},
                "links": {"assignment": f"{assignment}/roles/{r['role']}"},
            }
        )
    return _collection(request, "role_assignments", found)


class _ProjectSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)
    domain_id: str = views.DEFAULT_DOMAIN
    description: str = Field(default="", max_length=255)
    enabled: bool = True


class CreateProjectBody(BaseModel):
    project: _ProjectSpec


class _UserSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
    password: str = Field(min_length=1, max_length=4096)
    domain_id: str = views.DEFAULT_DOMAIN
    default_project_id: str | None = None
    enabled: bool = True


class CreateUserBody(BaseModel):
    user: _UserSpec


def _in_default_domain(domain_id: str) -> None:
    if domain_id != views.DEFAULT_DOMAIN:
        raise NotFound(f"Could not find domain: {domain_id}.")


async def create_project(request: Request) -> JSONResponse:
    actor = authorize(request, "identity:create_project")
    spec = (await parse_body(request, CreateProjectBody)).project
    _in_default_domain(spec.domain_id)
    if not spec.enabled:
        raise BadRequest("Projects are created enabled; disabling is not supported yet")
    cmd = CreateProject(spec.name, spec.description)
    receipt = await run_in_threadpool(state(request).services.create_project, cmd, actor)
    await read_your_writes(request, receipt)
    row = await state(request).reads.one(views.project_by_id(receipt.id.hex))
    assert row is not None  # read-your-writes waited for it
    return JSONResponse({"project": _project(request, row)}, 201)


async def create_user(request: Request) -> JSONResponse:
    actor = authorize(request, "identity:create_user")
    spec = (await parse_body(request, CreateUserBody)).user
    _in_default_domain(spec.domain_id)
    if not spec.enabled:
        raise BadRequest("Users are created enabled; disabling is not supported yet")
    cmd = CreateUser(
        spec.name, spec.password, roles=(), default_project_id=spec.default_project_id or ""
    )
    receipt = await run_in_threadpool(state(request).services.create_user, cmd, actor)
    await read_your_writes(request, receipt)
    row = await state(request).reads.one(views.user_by_id(receipt.id.hex))
    assert row is not None
    return JSONResponse({"user": _user(request, row)}, 201)


class _PasswordChange(BaseModel):
    password: str = Field(min_length=1, max_length=4096)
    original_password: str = Field(max_length=4096)


class ChangePasswordBody(BaseModel):
    user: _PasswordChange


async def change_password(request: Request) -> Response:
    actor = authenticate(request)
    user_id = request.path_params["id"]
    state(request).policy.enforce(actor, "identity:change_password", {"user_id": user_id})
    spec = (await parse_body(request, ChangePasswordBody)).user
    cmd = ChangePassword(user_id, spec.original_password, spec.password)
    await run_in_threadpool(state(request).services.change_password, cmd, actor)
    return Response(status_code=204)


async def get_role(request: Request) -> JSONResponse:
    authorize(request, "identity:list_roles")
    role = request.path_params["id"]
    if role not in ROLES:
        raise NotFound(f"Could not find role: {role}.")
    return JSONResponse({"role": _role(request, role)})


async def grant_role(request: Request) -> Response:
    actor = authorize(request, "identity:create_grant")
    p = request.path_params
    cmd = GrantRole(p["user_id"], p["project_id"], p["role"])
    receipt = await run_in_threadpool(state(request).services.grant_role, cmd, actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204)


routes = [
    Route("/identity/v3/domains", list_domains, methods=["GET"]),
    Route("/identity/v3/domains/{id}", get_domain, methods=["GET"]),
    Route("/identity/v3/projects", list_projects, methods=["GET"]),
    Route("/identity/v3/projects/{id}", get_project, methods=["GET"]),
    Route("/identity/v3/users", list_users, methods=["GET"]),
    Route("/identity/v3/users/{id}", get_user, methods=["GET"]),
    Route("/identity/v3/users/{id}/password", change_password, methods=["POST"]),
    Route("/identity/v3/projects", create_project, methods=["POST"]),
    Route("/identity/v3/users", create_user, methods=["POST"]),
    Route("/identity/v3/roles", list_roles, methods=["GET"]),
    Route("/identity/v3/roles/{id}", get_role, methods=["GET"]),
    Route(
        "/identity/v3/projects/{project_id}/users/{user_id}/roles/{role}",
        grant_role,
        methods=["PUT"],
    ),
    Route("/identity/v3/role_assignments", list_role_assignments, methods=["GET"]),
]
