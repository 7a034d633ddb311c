"""Keystone's JSON shapes for domains, projects, users and roles, from rows
of the directory read model (projections/identity.py)."""

from __future__ import annotations

from typing import Any

from psycopg.rows import DictRow
from starlette.requests import Request

from api.context import base_url
from api.responses import JSONResponse
from domain.domains import DEFAULT_DOMAIN_ID


def links(request: Request, path: str) -> dict[str, str]:
    return {"self": f"{base_url(request)}/identity/v3/{path}"}


def collection(request: Request, kind: str, items: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(
        {kind: items, "links": {**links(request, kind), "previous": None, "next": None}}
    )


def enabled_filter(request: Request) -> bool | None:
    """Keystone's ``?enabled=``: None when not asked (a bare ``enabled`` means true)."""
    value = request.query_params.get("enabled")
    return None if value is None else value.lower() in ("1", "true", "yes", "")


def domain_name(domain_id: str, name: str | None) -> str:
    """Ledgers from before domains have no Default row until seeded."""
    return name or ("Default" if domain_id == DEFAULT_DOMAIN_ID else domain_id)


def domain(request: Request, row: DictRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "enabled": row["enabled"],
        "tags": [],
        "options": {},
        "links": links(request, f"domains/{row['id']}"),
    }


def project(request: Request, row: DictRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "domain_id": row["domain_id"],
        "description": row["description"],
        "enabled": row["enabled"],
        "parent_id": row["domain_id"],
        "is_domain": False,
        "tags": list(row["tags"]),
        "options": {},
        "links": links(request, f"projects/{row['id']}"),
    }


def user(request: Request, row: DictRow) -> dict[str, Any]:
    shape = {
        "id": row["id"],
        "name": row["name"],
        "domain_id": row["domain_id"],
        "enabled": row["enabled"],
        "default_project_id": row["default_project_id"],
        "password_expires_at": None,
        "options": {},
        "links": links(request, f"users/{row['id']}"),
    }
    if row["email"]:  # Keystone shows only what was set
        shape["email"] = row["email"]
    if row["description"]:
        shape["description"] = row["description"]
    return shape


def role(request: Request, name: str, description: str | None = None) -> dict[str, Any]:
    return {
        "id": name,
        "name": name,
        "domain_id": None,
        "description": description,
        "options": {},
        "links": links(request, f"roles/{name}"),
    }


def assignment(request: Request, row: DictRow, names: bool) -> dict[str, Any]:
    role_ref: dict[str, Any] = {"id": row["role"]}
    user_ref: dict[str, Any] = {"id": row["user_id"]}
    target: dict[str, Any] = {"id": row["target_id"]}
    if names:
        role_ref["name"] = row["role"]
        user_domain = row["user_domain_id"]
        user_ref.update(
            name=row["user_name"],
            domain={"id": user_domain, "name": domain_name(user_domain, row["user_domain_name"])},
        )
        if row["scope"] == "project":
            project_domain = row["project_domain_id"]
            target.update(
                name=row["target_name"],
                domain={
                    "id": project_domain,
                    "name": domain_name(project_domain, row["project_domain_name"]),
                },
            )
        else:
            target["name"] = domain_name(row["target_id"], row["target_name"])
    kind = "projects" if row["scope"] == "project" else "domains"
    path = f"{kind}/{row['target_id']}/users/{row['user_id']}/roles/{row['role']}"
    return {
        "role": role_ref,
        "user": user_ref,
        "scope": {row["scope"]: target},
        "links": {"assignment": f"{base_url(request)}/identity/v3/{path}"},
    }
