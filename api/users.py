"""Identity v3 users, their passwords, and the projects a token may scope to."""

from __future__ import annotations

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
from api.responses import JSONResponse
from commands.identity import ChangePassword, CreateUser, UpdateUser
from domain.domains import DEFAULT_DOMAIN_ID
from domain.errors import NotFound
from domain.values import Actor
from projections import identity as views

_NAME = Field(min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
_PASSWORD = Field(min_length=1, max_length=4096)
_TEXT = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)


class _NewUser(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = _NAME
    password: str = _PASSWORD
    # Unset: the domain of a domain-scoped token, else Default (Keystone's).
    domain_id: str | None = Field(default=None, max_length=64)
    default_project_id: str | None = Field(default=None, max_length=64)
    enabled: bool = True
    email: str | None = _TEXT
    description: str | None = _TEXT


class CreateUserBody(BaseModel):
    user: _NewUser


class _UserChange(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(default=None, min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
    password: str | None = Field(default=None, min_length=1, max_length=4096)
    enabled: bool | None = None
    email: str | None = _TEXT
    description: str | None = _TEXT
    default_project_id: str | None = Field(default=None, max_length=64)


class UpdateUserBody(BaseModel):
    user: _UserChange


async def _user_response(request: Request, user_id: str, status: int = 200) -> JSONResponse:
    row = await state(request).reads.one(views.user_by_id(user_id))
    if row is None:
        raise NotFound(f"Could not find user: {user_id}.")
    return JSONResponse({"user": shapes.user(request, row)}, status)


async def list_users(request: Request) -> JSONResponse:
    """A domain-scoped token lists its own domain's users only."""
    actor = authenticate(request)
    target = targets.own_domain(actor, "target.domain_id")
    state(request).policy.enforce(actor, "identity:list_users", target)
    params = request.query_params
    domain_id, any_match = targets.listed_domain(actor, params.get("domain_id"))
    query = views.users(params.get("name"), domain_id, shapes.enabled_filter(request))
    rows = await state(request).reads.all(query) if any_match else []
    return shapes.collection(request, "users", [shapes.user(request, r) for r in rows])


async def _authorize_on_user(request: Request, rule: str) -> tuple[Actor, str]:
    """The caller, once the rule allows it on the user the path names."""
    actor, user_id = authenticate(request), request.path_params["id"]
    await targets.enforce(request, actor, rule, {targets.USER: user_id})
    return actor, user_id


async def _require_visible(request: Request, actor: Actor, project_id: str | None) -> None:
    """A default project must be one the caller may see: a domain's admin
    names one of its own domain's, and learns nothing of others'."""
    if project_id:
        await targets.enforce(request, actor, "identity:get_project", {targets.PROJECT: project_id})


async def get_user(request: Request) -> JSONResponse:
    """Another domain's user is not found, as one that does not exist (and
    so the CLI's lookup by name goes on to search the caller's own)."""
    actor, user_id = authenticate(request), request.path_params["id"]
    hidden = NotFound(f"Could not find user: {user_id}.")
    named = {targets.USER: user_id}
    await targets.enforce(request, actor, "identity:get_user", named, hidden_as=hidden)
    return await _user_response(request, user_id)


@accepts(CreateUserBody)
async def create_user(request: Request) -> JSONResponse:
    """A domain's admin creates users in its own domain only."""
    actor, rule = authenticate(request), "identity:create_user"
    policy = state(request).policy
    policy.enforce(actor, rule, targets.own_domain(actor, "target.user.domain_id"))
    spec = (await parse_body(request, CreateUserBody)).user
    domain_id = spec.domain_id or actor.domain_id or DEFAULT_DOMAIN_ID
    policy.enforce(actor, rule, {"target.user.domain_id": domain_id})
    await _require_visible(request, actor, spec.default_project_id)
    cmd = CreateUser(
        spec.name,
        spec.password,
        roles=(),
        default_project_id=spec.default_project_id or "",
        domain_id=domain_id,
        email=spec.email or "",
        description=spec.description or "",
        enabled=spec.enabled,
    )
    receipt = await run_in_threadpool(state(request).services.create_user, cmd, actor)
    await read_your_writes(request, receipt)
    return await _user_response(request, receipt.id.hex, 201)


@accepts(UpdateUserBody)
async def update_user(request: Request) -> JSONResponse:
    """``user set``: disabling a user revokes their tokens everywhere."""
    actor, user_id = await _authorize_on_user(request, "identity:update_user")
    change = (await parse_body(request, UpdateUserBody)).user
    await _require_visible(request, actor, change.default_project_id)
    cmd = UpdateUser(
        user_id,
        change.name,
        change.email,
        change.description,
        change.enabled,
        change.default_project_id,
        change.password,
    )
    receipt = await run_in_threadpool(state(request).services.update_user, cmd, actor)
    await read_your_writes(request, receipt)
    return await _user_response(request, user_id)


async def delete_user(request: Request) -> Response:
    actor, user_id = await _authorize_on_user(request, "identity:delete_user")
    svc = state(request).services
    await read_your_writes(request, await run_in_threadpool(svc.delete_user, user_id, actor))
    return Response(status_code=204)


class _PasswordChange(BaseModel):
    password: str = _PASSWORD
    original_password: str = Field(max_length=4096)


class ChangePasswordBody(BaseModel):
    user: _PasswordChange


@accepts(ChangePasswordBody)
async def change_password(request: Request) -> Response:
    """A user's own change; it revokes the user's tokens, as Keystone's does."""
    actor = authenticate(request)
    user_id = request.path_params["id"]
    state(request).policy.enforce(actor, "identity:change_password", {"user_id": user_id})
    spec = (await parse_body(request, ChangePasswordBody)).user
    cmd = ChangePassword(user_id, spec.original_password, spec.password)
    receipt = await run_in_threadpool(state(request).services.change_password, cmd, actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204)


async def user_projects(request: Request) -> JSONResponse:
    _, user_id = await _authorize_on_user(request, "identity:list_user_projects")
    rows = await state(request).reads.all(views.projects_of_user(user_id))
    return shapes.collection(request, "projects", [shapes.project(request, r) for r in rows])


async def auth_projects(request: Request) -> JSONResponse:
    """What the token's user may scope a token to (unscoped tokens too)."""
    actor = authorize(request, "identity:get_auth_projects")
    rows = await state(request).reads.all(views.projects_of_user(actor.user_id))
    return shapes.collection(request, "projects", [shapes.project(request, r) for r in rows])


async def auth_domains(request: Request) -> JSONResponse:
    actor = authorize(request, "identity:get_auth_domains")
    rows = await state(request).reads.all(views.domains_of_user(actor.user_id))
    return shapes.collection(request, "domains", [shapes.domain(request, r) for r in rows])


routes = [
    Route("/identity/v3/users", list_users, methods=["GET"]),
    Route("/identity/v3/users", create_user, methods=["POST"]),
    Route("/identity/v3/users/{id}", get_user, methods=["GET"]),
    Route("/identity/v3/users/{id}", update_user, methods=["PATCH"]),
    Route("/identity/v3/users/{id}", delete_user, methods=["DELETE"]),
    Route("/identity/v3/users/{id}/password", change_password, methods=["POST"]),
    Route("/identity/v3/users/{id}/projects", user_projects, methods=["GET"]),
    Route("/identity/v3/auth/projects", auth_projects, methods=["GET"]),
    Route("/identity/v3/auth/domains", auth_domains, methods=["GET"]),
]
