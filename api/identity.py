"""Identity v3 subset: version discovery and password tokens with a catalog."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from api.context import authorize, base_url, parse_body, request_id, state
from api.responses import JSONResponse
from commands.tokens import TokenClaims
from domain.errors import InvalidInput, NotFound, Unauthorized

UPDATED = "2024-01-01T00:00:00Z"


class _Named(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = None
    id: str | None = None


class _PasswordUser(_Named):
    password: str
    domain: _Named | None = None


class _Password(BaseModel):
    user: _PasswordUser


class _Identity(BaseModel):
    model_config = ConfigDict(extra="ignore")
    methods: list[str]
    password: _Password | None = None


class _ProjectScope(BaseModel):
    model_config = ConfigDict(extra="ignore")
    project: _Named | None = None


class _Auth(BaseModel):
    identity: _Identity
    scope: _ProjectScope | None = None


class TokenRequest(BaseModel):
    auth: _Auth


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
    """One public endpoint per service, all on this server under path prefixes."""
    del project_id  # the volume endpoint will carry it
    base = base_url(request)
    services = [
        ("identity", "keystone", f"{base}/identity"),
        ("compute", "nova", f"{base}/compute/v2.1"),
        ("image", "glance", f"{base}/image"),
        # Block storage and networking join the catalog when their APIs exist:
        # clients probe every listed service (e.g. `limits show` asks volumev3).
    ]
    return [
        {
            "id": f"{name}-service",
            "type": kind,
            "name": name,
            "endpoints": [
                {
                    "id": f"{name}-public",
                    "interface": "public",
                    "region": "RegionOne",
                    "region_id": "RegionOne",
                    "url": url,
                }
            ],
        }
        for kind, name, url in services
    ]


def token_body(request: Request, claims: TokenClaims, with_catalog: bool) -> dict[str, Any]:
    domain = {"id": "default", "name": "Default"}
    token: dict[str, Any] = {
        "methods": ["password"],
        "user": {"id": claims.user_id, "name": claims.user_name, "domain": domain},
        "project": {"id": claims.project_id, "name": claims.project_name, "domain": domain},
        "roles": [{"id": role, "name": role} for role in claims.roles],
        "issued_at": _iso(claims.issued_at),
        "expires_at": _iso(claims.expires_at),
        "audit_ids": [claims.audit_id],
    }
    if with_catalog:
        token["catalog"] = catalog(request, claims.project_id)
    return {"token": token}


async def issue_token(request: Request) -> JSONResponse:
    body = await parse_body(request, TokenRequest)
    password = body.auth.identity.password
    if "password" not in body.auth.identity.methods or password is None:
        raise InvalidInput("Only the password authentication method is supported")
    user = password.user
    project = body.auth.scope.project if body.auth.scope else None
    if user.name is None or project is None or project.name is None:
        raise InvalidInput("Authenticate by user name, scoped to a project by name")
    svc = state(request).services
    who = await run_in_threadpool(
        svc.authenticate, user.name, user.password, project.name, request_id(request)
    )
    token, claims = state(request).tokens.issue(
        who.user_id, who.user_name, who.project_id, who.project_name, who.roles
    )
    return JSONResponse(
        token_body(request, claims, with_catalog=True), 201, headers={"X-Subject-Token": token}
    )


async def validate_token(request: Request) -> JSONResponse:
    authorize(request, "identity:validate_token")
    subject = request.headers.get("x-subject-token", "")
    try:
        claims = state(request).tokens.verify(subject)
    except Unauthorized:
        # Keystone: 404 for a bad subject token; 401 is about the caller's own.
        raise NotFound("Could not find token.") from None
    return JSONResponse(
        token_body(request, claims, with_catalog=True), headers={"X-Subject-Token": subject}
    )


routes = [
    Route("/identity", versions),
    Route("/identity/", versions),
    Route("/identity/v3", version_v3),
    Route("/identity/v3/", version_v3),
    Route("/identity/v3/auth/tokens", issue_token, methods=["POST"]),
    Route("/identity/v3/auth/tokens", validate_token, methods=["GET"]),
]
