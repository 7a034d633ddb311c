"""Identity v3 domains and projects: commands append events, lookups read
the directory read model, in the shapes Keystone answers."""

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
from commands.domains import CreateDomain, UpdateDomain
from commands.identity import CreateProject, UpdateProject
from domain.domains import DEFAULT_DOMAIN_ID
from domain.errors import Conflict, Forbidden, NotFound
from domain.values import Actor
from projections import identity as views
from projections.images import images_owned

_NAME = Field(min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)
_TEXT = Field(default=None, max_length=255)


# Domains --------------------------------------------------------------------


class _NewDomain(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = _NAME
    description: str | None = _TEXT  # `domain create` without one sends null
    enabled: bool = True


class CreateDomainBody(BaseModel):
    domain: _NewDomain


class _DomainChange(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)
    description: str | None = _TEXT
    enabled: bool | None = None


class UpdateDomainBody(BaseModel):
    domain: _DomainChange


async def _domain_response(request: Request, domain_id: str, status: int = 200) -> JSONResponse:
    row = await state(request).reads.one(views.domain_by_id(domain_id))
    if row is None:
        raise NotFound(f"Could not find domain: {domain_id}.")
    return JSONResponse({"domain": shapes.domain(request, row)}, status)


async def list_domains(request: Request) -> JSONResponse:
    authorize(request, "identity:list_domains")
    query = views.domains(request.query_params.get("name"), shapes.enabled_filter(request))
    rows = await state(request).reads.all(query)
    return shapes.collection(request, "domains", [shapes.domain(request, r) for r in rows])


async def get_domain(request: Request) -> JSONResponse:
    actor, domain_id = authenticate(request), request.path_params["id"]
    state(request).policy.enforce(actor, "identity:get_domain", targets.domain(domain_id))
    return await _domain_response(request, domain_id)


@accepts(CreateDomainBody)
async def create_domain(request: Request) -> JSONResponse:
    actor = authorize(request, "identity:create_domain")
    spec = (await parse_body(request, CreateDomainBody)).domain
    cmd = CreateDomain(spec.name, spec.description or "", spec.enabled)
    receipt = await run_in_threadpool(state(request).services.create_domain, cmd, actor)
    await read_your_writes(request, receipt)
    row = await state(request).reads.one(views.domains(name=spec.name))
    assert row is not None  # read-your-writes waited for it
    return JSONResponse({"domain": shapes.domain(request, row)}, 201)


@accepts(UpdateDomainBody)
async def update_domain(request: Request) -> JSONResponse:
    actor = authorize(request, "identity:update_domain")
    change = (await parse_body(request, UpdateDomainBody)).domain
    domain_id = request.path_params["id"]
    cmd = UpdateDomain(domain_id, change.name, change.description, change.enabled)
    await read_your_writes(
        request, await run_in_threadpool(state(request).services.update_domain, cmd, actor)
    )
    return await _domain_response(request, domain_id)


async def delete_domain(request: Request) -> Response:
    """Keystone would delete what the domain holds; here it must be empty."""
    actor = authorize(request, "identity:delete_domain")
    domain_id = request.path_params["id"]
    if domain_id == DEFAULT_DOMAIN_ID:
        raise Forbidden("The default domain cannot be deleted.")
    left = await state(request).reads.one(views.domain_members(domain_id))
    if left is not None and (left["projects"] or left["users"]):
        raise Conflict(
            f"Domain {domain_id} still holds {left['projects']} project(s) and "
            f"{left['users']} user(s); delete them first."
        )
    svc = state(request).services
    await read_your_writes(request, await run_in_threadpool(svc.delete_domain, domain_id, actor))
    return Response(status_code=204)


# Projects -------------------------------------------------------------------


class _NewProject(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = _NAME
    # Unset: the domain of a domain-scoped token, else Default (Keystone's).
    domain_id: str | None = Field(default=None, max_length=64)
    description: str = Field(default="", max_length=255)
    enabled: bool = True
    tags: list[str] = Field(default=[], max_length=80)


class CreateProjectBody(BaseModel):
    project: _NewProject


class _ProjectChange(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)
    description: str | None = _TEXT
    enabled: bool | None = None
    tags: list[str] | None = Field(default=None, max_length=80)


class UpdateProjectBody(BaseModel):
    project: _ProjectChange


async def _project_response(request: Request, project_id: str, status: int = 200) -> JSONResponse:
    row = await state(request).reads.one(views.project_by_id(project_id))
    if row is None:
        raise NotFound(f"Could not find project: {project_id}.")
    return JSONResponse({"project": shapes.project(request, row)}, status)


async def list_projects(request: Request) -> JSONResponse:
    """A domain-scoped token lists its own domain's projects only."""
    actor = authenticate(request)
    target = targets.own_domain(actor, "target.domain_id")
    state(request).policy.enforce(actor, "identity:list_projects", target)
    params = request.query_params
    domain_id, any_match = targets.listed_domain(actor, params.get("domain_id"))
    query = views.projects(params.get("name"), domain_id, shapes.enabled_filter(request))
    rows = await state(request).reads.all(query) if any_match else []
    return shapes.collection(request, "projects", [shapes.project(request, r) for r in rows])


async def get_project(request: Request) -> JSONResponse:
    actor, rule = authenticate(request), "identity:get_project"
    project_id = request.path_params["id"]
    named = {targets.PROJECT: project_id}
    if project_id == actor.project_id:
        await targets.enforce(request, actor, rule, named)
    elif await targets.verdict(request, actor, rule, named) is not targets.Verdict.ALLOWED:
        raise NotFound(f"Could not find project: {project_id}.")  # as if it did not exist
    return await _project_response(request, project_id)


@accepts(CreateProjectBody)
async def create_project(request: Request) -> JSONResponse:
    """A domain's admin creates projects in its own domain only."""
    actor, rule = authenticate(request), "identity:create_project"
    policy = state(request).policy
    policy.enforce(actor, rule, targets.own_domain(actor, "target.project.domain_id"))
    spec = (await parse_body(request, CreateProjectBody)).project
    domain_id = spec.domain_id or actor.domain_id or DEFAULT_DOMAIN_ID
    policy.enforce(actor, rule, {"target.project.domain_id": domain_id})
    cmd = CreateProject(spec.name, spec.description, domain_id, tuple(spec.tags), spec.enabled)
    receipt = await run_in_threadpool(state(request).services.create_project, cmd, actor)
    await read_your_writes(request, receipt)
    return await _project_response(request, receipt.id.hex, 201)


async def _authorize_on_project(request: Request, rule: str) -> tuple[Actor, str]:
    actor, project_id = authenticate(request), request.path_params["id"]
    await targets.enforce(request, actor, rule, {targets.PROJECT: project_id})
    return actor, project_id


@accepts(UpdateProjectBody)
async def update_project(request: Request) -> JSONResponse:
    actor, project_id = await _authorize_on_project(request, "identity:update_project")
    change = (await parse_body(request, UpdateProjectBody)).project
    tags = None if change.tags is None else tuple(change.tags)
    cmd = UpdateProject(project_id, change.name, change.description, change.enabled, tags)
    svc = state(request).services
    await read_your_writes(request, await run_in_threadpool(svc.update_project, cmd, actor))
    return await _project_response(request, project_id)


async def delete_project(request: Request) -> Response:
    """Refused while the project owns servers (checked on its quota, in the
    same save) or images (checked here, on the images read model)."""
    actor, project_id = await _authorize_on_project(request, "identity:delete_project")
    owned = await state(request).reads.one(images_owned(project_id))
    if owned is not None and owned["images"]:
        raise Conflict(
            f"Project {project_id} still owns {owned['images']} image(s); delete them first."
        )
    svc = state(request).services
    await read_your_writes(request, await run_in_threadpool(svc.delete_project, project_id, actor))
    return Response(status_code=204)


routes = [
    Route("/identity/v3/domains", list_domains, methods=["GET"]),
    Route("/identity/v3/domains", create_domain, methods=["POST"]),
    Route("/identity/v3/domains/{id}", get_domain, methods=["GET"]),
    Route("/identity/v3/domains/{id}", update_domain, methods=["PATCH"]),
    Route("/identity/v3/domains/{id}", delete_domain, methods=["DELETE"]),
    Route("/identity/v3/projects", list_projects, methods=["GET"]),
    Route("/identity/v3/projects", create_project, methods=["POST"]),
    Route("/identity/v3/projects/{id}", get_project, methods=["GET"]),
    Route("/identity/v3/projects/{id}", update_project, methods=["PATCH"]),
    Route("/identity/v3/projects/{id}", delete_project, methods=["DELETE"]),
]
