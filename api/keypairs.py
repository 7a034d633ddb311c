"""Compute v2.1 os-keypairs: a user's SSH keys, generated or imported."""

from __future__ import annotations

from typing import Any, Literal

from psycopg.rows import DictRow
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import microversion
from api.context import accepts, authenticate, parse_body, read_your_writes, state
from api.responses import JSONResponse
from commands.keypairs import CreateKeypair
from domain.errors import NotFound
from domain.values import Actor
from projections.keypairs import keypair, keypairs_of


class _NewKeypair(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=255)
    public_key: str | None = Field(default=None, max_length=16384)
    type: Literal["ssh", "x509"] = "ssh"
    user_id: str | None = Field(default=None, max_length=64)  # admins, 2.10+


class CreateKeypairBody(BaseModel):
    keypair: _NewKeypair


def _owner(request: Request, rule: str, asked: str | None = None) -> tuple[Actor, str]:
    """The caller, and whose keypairs they act on: their own, or (admins,
    from 2.10) another user's given as ``user_id``."""
    actor = authenticate(request)
    user_id = asked or request.query_params.get("user_id") or actor.user_id
    if user_id != actor.user_id and microversion.requested(request) < (2, 10):
        user_id = actor.user_id
    state(request).policy.enforce(actor, rule, {"user_id": user_id})
    return actor, user_id


def _shape(request: Request, row: DictRow) -> dict[str, Any]:
    shape = {
        "name": row["name"],
        "public_key": row["public_key"],
        "fingerprint": row["fingerprint"],
    }
    if microversion.requested(request) >= (2, 2):
        shape["type"] = row["key_type"]
    return shape


async def index(request: Request) -> JSONResponse:
    _, user_id = _owner(request, "compute:keypairs:index")
    rows = await state(request).reads.all(keypairs_of(user_id))
    return JSONResponse({"keypairs": [{"keypair": _shape(request, r)} for r in rows]})


async def show(request: Request) -> JSONResponse:
    _, user_id = _owner(request, "compute:keypairs:show")
    name = request.path_params["name"]
    row = await state(request).reads.one(keypair(user_id, name))
    if row is None:
        raise NotFound(f"Keypair {name} not found for user {user_id}")
    return JSONResponse(
        {
            "keypair": {
                **_shape(request, row),
                "user_id": row["user_id"],
                "id": row["number"],
                "created_at": row["created"],
                "updated_at": None,
                "deleted_at": None,
                "deleted": False,
            }
        }
    )


@accepts(CreateKeypairBody)
async def create(request: Request) -> JSONResponse:
    _owner(request, "compute:keypairs:create")  # before reading the body
    spec = (await parse_body(request, CreateKeypairBody)).keypair
    actor, user_id = _owner(request, "compute:keypairs:create", spec.user_id)
    cmd = CreateKeypair(user_id, spec.name, spec.public_key or "", spec.type)
    created = await run_in_threadpool(state(request).services.create_keypair, cmd, actor)
    await read_your_writes(request, created.receipt)
    row = await state(request).reads.one(keypair(user_id, spec.name))
    assert row is not None  # read-your-writes waited for it
    body = {**_shape(request, row), "user_id": user_id}
    if created.private_key:  # shown this once, kept nowhere
        body["private_key"] = created.private_key
    status = 201 if microversion.requested(request) >= (2, 2) else 200
    return JSONResponse({"keypair": body}, status)


async def delete(request: Request) -> Response:
    actor, user_id = _owner(request, "compute:keypairs:delete")
    svc = state(request).services
    name = request.path_params["name"]
    receipt = await run_in_threadpool(svc.delete_keypair, user_id, name, actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204 if microversion.requested(request) >= (2, 2) else 202)


routes = [
    Route("/compute/v2.1/os-keypairs", index, methods=["GET"]),
    Route("/compute/v2.1/os-keypairs", create, methods=["POST"]),
    Route("/compute/v2.1/os-keypairs/{name}", show, methods=["GET"]),
    Route("/compute/v2.1/os-keypairs/{name}", delete, methods=["DELETE"]),
]
