"""Identity v3 tokens: version discovery; password tokens scoped to a project,
a domain, the system or nothing; validation and revocation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.audit import note_login
from api.context import (
    accepts,
    authenticate,
    authorize,
    base_url,
    parse_body,
    read_your_writes,
    request_id,
    state,
    token_claims,
)
from api.declarations import Service
from api.registry import tables
from api.responses import JSONResponse
from commands.authentication import Login
from commands.identity import RevokeToken
from commands.tokens import TokenClaims, TokenScope
from domain.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from domain.values import Actor

UPDATED = "2024-01-01T00:00:00Z"


class _Named(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(default=None, max_length=255)
    id: str | None = Field(default=None, max_length=64)


class _InDomain(_Named):
    domain: _Named | None = None


class _PasswordUser(_InDomain):
    password: str = Field(max_length=4096)


class _Password(BaseModel):
    user: _PasswordUser


class _Identity(BaseModel):
    model_config = ConfigDict(extra="ignore")
    methods: list[str]
    password: _Password | None = None


class _System(BaseModel):
    model_config = ConfigDict(extra="ignore")
    all: bool = False


class _Scope(BaseModel):
    model_config = ConfigDict(extra="ignore")
    project: _InDomain | None = None
    domain: _Named | None = None
    system: _System | None = None  # `openstack --os-system-scope all`


class _Auth(BaseModel):
    identity: _Identity
    scope: _Scope | Literal["unscoped"] | None = None


class TokenRequest(BaseModel):
    auth: _Auth


def _login(body: TokenRequest) -> Login:
    """The request's user and scope, each by id or by name (in a domain)."""
    password = body.auth.identity.password
    if "password" not in body.auth.identity.methods or password is None:
        raise InvalidInput("Only the password authentication method is supported")
    user = password.user
    if not user.id and not user.name:
        raise InvalidInput("Name the user by id, or by name and domain")
    scope = body.auth.scope
    project = scope.project if isinstance(scope, _Scope) else None
    domain = scope.domain if isinstance(scope, _Scope) else None
    if project is not None and not project.id and not project.name:
        raise InvalidInput("Name the project by id, or by name and domain")
    if domain is not None and not domain.id and not domain.name:
        raise InvalidInput("Name the domain by id or by name")
    system = scope.system if isinstance(scope, _Scope) else None
    if system is not None and not system.all:
        raise InvalidInput('The only system scope is all: {"system": {"all": true}}')
    if sum(s is not None for s in (project, domain, system)) > 1:
        raise InvalidInput("Scope a token to a project, a domain or the system, only one")
    return Login(
        user.password,
        user_id=user.id or "",
        user_name=user.name or "",
        user_domain_id=(user.domain and user.domain.id) or "",
        user_domain_name=(user.domain and user.domain.name) or "",
        project_id=(project and project.id) or "",
        project_name=(project and project.name) or "",
        project_domain_id=(project and project.domain and project.domain.id) or "",
        project_domain_name=(project and project.domain and project.domain.name) or "",
        domain_id=(domain and domain.id) or "",
        domain_name=(domain and domain.name) or "",
        unscoped=scope == "unscoped",
        system=system is not None,
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _version(request: Request) -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": f"{base_url(request)}/identity/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


async def versions(request: Request) -> JSONResponse:
    return JSONResponse({"versions": {"values": [_version(request)]}}, 300)


async def version_v3(request: Request) -> JSONResponse:
    return JSONResponse({"version": _version(request)})


def catalog(request: Request, project_id: str) -> list[dict[str, Any]]:
    """The token's catalog: every service the resources declare."""
    return catalog_of(tables().services, base_url(request), project_id)


def catalog_of(services: Iterable[Service], base: str, project_id: str) -> list[dict[str, Any]]:
    """One public endpoint per catalog entry of ``services``, all on this
    server (``base``) under their path prefixes. An entry whose path names
    the project is left out of a token without one (a domain's, the system's)."""
    return [
        {
            "id": f"{entry.name}-service",
            "type": entry.type,
            "name": entry.name,
            "endpoints": [
                {
                    "id": f"{entry.name}-public",
                    "interface": "public",
                    "region": "RegionOne",
                    "region_id": "RegionOne",
                    "url": base + entry.path.format(project_id=project_id),
                }
            ],
        }
        for service in services
        for entry in service.catalog
        if project_id or "{project_id}" not in entry.path
    ]


def token_body(request: Request, claims: TokenClaims, with_catalog: bool) -> dict[str, Any]:
    user_domain = {"id": claims.user_domain_id, "name": claims.user_domain_name}
    token: dict[str, Any] = {
        "methods": ["password"],
        "user": {
            "id": claims.user_id,
            "name": claims.user_name,
            "domain": user_domain,
            "password_expires_at": None,
        },
        "roles": [{"id": role, "name": role} for role in claims.roles],
        "issued_at": _iso(claims.issued_at),
        "expires_at": _iso(claims.expires_at),
        "audit_ids": [claims.audit_id],
    }
    if claims.system_scope:  # its project_id names where its roles come from: not shown
        token["system"] = {claims.system_scope: True}
    elif claims.project_id:
        token["project"] = {
            "id": claims.project_id,
            "name": claims.project_name,
            "domain": {"id": claims.project_domain_id, "name": claims.project_domain_name},
        }
        token["is_domain"] = False
        token["is_admin_project"] = claims.is_admin_project  # Keystone's, for policy
    elif claims.domain_id:
        token["domain"] = {"id": claims.domain_id, "name": claims.domain_name}
    if with_catalog and (claims.project_id or claims.domain_id):  # system tokens too
        token["catalog"] = catalog(request, claims.project_id)
    elif with_catalog:
        token["catalog"] = []  # an unscoped token reaches no service
    return {"token": token}


@accepts(TokenRequest)
async def issue_token(request: Request) -> JSONResponse:
    login = _login(await parse_body(request, TokenRequest))
    # For the audit of a failed login: the names given, never the password.
    named = login.user_id or f"{login.user_name}@{login.user_domain_id or login.user_domain_name}"
    note_login(request, named, login.project_id or login.project_name)
    svc = state(request).services
    who = await run_in_threadpool(svc.login, login, request_id(request))
    scope = TokenScope(
        who.user_domain_id,
        who.user_domain_name,
        who.project_domain_id,
        who.project_domain_name,
        who.domain_id,
        who.domain_name,
        system_scope=who.system_scope,
        is_admin_project=who.is_admin_project,
    )
    token, claims = state(request).tokens.issue(
        who.user_id, who.user_name, who.project_id, who.project_name, who.roles, scope=scope
    )
    return JSONResponse(
        token_body(request, claims, with_catalog=True), 201, headers={"X-Subject-Token": token}
    )


def _subject(request: Request, rule: str) -> tuple[Actor, str, TokenClaims]:
    """The caller, and the X-Subject-Token's claims once the caller may act on it."""
    actor = authenticate(request)
    subject = request.headers.get("x-subject-token", "")
    try:
        claims = token_claims(request, subject)
    except Unauthorized:
        # Keystone: 404 for a bad subject token; 401 is about the caller's own.
        raise NotFound("Could not find token.") from None
    state(request).policy.enforce(actor, rule, {"user_id": claims.user_id})
    return actor, subject, claims


async def validate_token(request: Request) -> Response:
    _, subject, claims = _subject(request, "identity:validate_token")
    headers = {"X-Subject-Token": subject}
    if request.method == "HEAD":
        return Response(status_code=200, headers=headers)
    with_catalog = "nocatalog" not in request.query_params
    return JSONResponse(token_body(request, claims, with_catalog), headers=headers)


async def revoke_token(request: Request) -> Response:
    """The token stops working on every API process (api/revocations.py)."""
    actor, _, claims = _subject(request, "identity:revoke_token")
    cmd = RevokeToken(claims.user_id, claims.audit_id, claims.expires_at)
    receipt = await run_in_threadpool(state(request).services.revoke_token, cmd, actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204)


async def auth_catalog(request: Request) -> JSONResponse:
    """GET /v3/auth/catalog: the catalog of the caller's own token; as in
    Keystone, only a project-scoped token has one."""
    actor = authorize(request, "identity:get_auth_catalog")
    if not actor.project_id:
        raise Forbidden("A project-scoped token is required to produce a service catalog.")
    links = {"self": f"{base_url(request)}/identity/v3/auth/catalog"}
    return JSONResponse({"catalog": catalog(request, actor.project_id), "links": links})


routes = [
    Route("/identity", versions),
    Route("/identity/", versions),
    Route("/identity/v3", version_v3),
    Route("/identity/v3/", version_v3),
    Route("/identity/v3/auth/tokens", issue_token, methods=["POST"]),
    Route("/identity/v3/auth/tokens", validate_token, methods=["GET", "HEAD"]),
    Route("/identity/v3/auth/tokens", revoke_token, methods=["DELETE"]),
    Route("/identity/v3/auth/catalog", auth_catalog, methods=["GET", "HEAD"]),
]
