"""Compute v2.1 os-aggregates (admins): groups of hosts, and their zone."""

from __future__ import annotations

from typing import Any

from psycopg.rows import DictRow
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import microversion
from api.context import NO_CONTROL_CHARS, accepts, authorize, parse_body, read_your_writes, state
from api.errors import BadRequest
from api.responses import JSONResponse
from commands.host_aggregates import CreateHostAggregate
from domain.errors import Conflict, NotFound
from projections.host_aggregates import aggregate_by_number, aggregates, zone_holding

_NAME = Field(min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)


def _shape(request: Request, row: DictRow) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": row["number"],
        "name": row["name"],
        "availability_zone": row["metadata"].get("availability_zone"),
        "hosts": list(row["hosts"]),
        "metadata": row["metadata"],
        "created_at": row["created"],
        "updated_at": row["updated"],
        "deleted_at": None,
        "deleted": False,
    }
    if microversion.requested(request) >= (2, 41):
        shown["uuid"] = row["uuid"]
    return shown


async def _row(request: Request) -> DictRow:
    wanted = request.path_params["id"]
    row = None
    if wanted.isdigit() and len(wanted) < 19:
        row = await state(request).reads.one(aggregate_by_number(int(wanted)))
    if row is None:
        raise NotFound(f"Aggregate {wanted} could not be found.")
    return row


async def index(request: Request) -> JSONResponse:
    authorize(request, "compute:aggregates:index")
    rows = await state(request).reads.all(aggregates())
    return JSONResponse({"aggregates": [_shape(request, r) for r in rows]})


async def show(request: Request) -> JSONResponse:
    authorize(request, "compute:aggregates:show")
    return JSONResponse({"aggregate": _shape(request, await _row(request))})


class _NewAggregate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = _NAME
    availability_zone: str | None = Field(default=None, min_length=1, max_length=255)


class CreateBody(BaseModel):
    aggregate: _NewAggregate


@accepts(CreateBody)
async def create(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:aggregates:create")
    spec = (await parse_body(request, CreateBody)).aggregate
    cmd = CreateHostAggregate(spec.name, spec.availability_zone)
    receipt = await run_in_threadpool(state(request).services.create_aggregate, cmd, actor)
    await read_your_writes(request, receipt)
    rows = await state(request).reads.all(aggregates())
    (row,) = [r for r in rows if r["uuid"] == str(receipt.id)]
    return JSONResponse({"aggregate": _shape(request, row)})


class _AggregateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
    availability_zone: str | None = Field(default=None, min_length=1, max_length=255)


class UpdateBody(BaseModel):
    aggregate: _AggregateChange


async def _change(request: Request, rule: str, change: dict[str, Any]) -> JSONResponse:
    actor = authorize(request, rule)
    row = await _row(request)
    svc = state(request).services
    receipt = await run_in_threadpool(svc.change_aggregate, row["uuid"], change, actor)
    await read_your_writes(request, receipt)
    return JSONResponse({"aggregate": _shape(request, await _row(request))})


@accepts(UpdateBody)
async def update(request: Request) -> JSONResponse:
    authorize(request, "compute:aggregates:update")
    change = (await parse_body(request, UpdateBody)).aggregate.model_dump(
        exclude_unset=True, exclude_none=True
    )
    if not change:
        raise BadRequest("Give a name or an availability_zone")
    return await _change(request, "compute:aggregates:update", change)


class _Host(BaseModel):
    host: str = Field(min_length=1, max_length=255)


class _Metadata(BaseModel):
    metadata: dict[str, str | None] = Field(max_length=128)


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    add_host: _Host | None = None
    remove_host: _Host | None = None
    set_metadata: _Metadata | None = None


@accepts(ActionBody)
async def action(request: Request) -> JSONResponse:
    body = await parse_body(request, ActionBody)
    given = body.model_fields_set
    if len(given) != 1:
        raise BadRequest("Give one of add_host, remove_host or set_metadata")
    (verb,) = given
    authorize(request, f"compute:aggregates:{verb}")  # before looking anything up
    if getattr(body, verb) is None:
        raise BadRequest(f"The {verb} action needs an object")
    if body.add_host is not None:
        await _one_zone(request, body.add_host.host)
        change: dict[str, Any] = {"add_host": body.add_host.host}
    elif body.remove_host is not None:
        change = {"remove_host": body.remove_host.host}
    else:
        assert body.set_metadata is not None
        change = {"set_metadata": body.set_metadata.metadata}
    return await _change(request, f"compute:aggregates:{verb}", change)


async def _one_zone(request: Request, host: str) -> None:
    """A host lies in one zone: it may not join an aggregate of another."""
    row = await _row(request)
    zone = row["metadata"].get("availability_zone")
    held = {r["zone"] for r in await state(request).reads.all(zone_holding(host))}
    if zone and held - {zone}:
        raise Conflict(
            f"Cannot add host {host} to aggregate {row['name']}: it is already in "
            f"availability zone {sorted(held)[0]}"
        )


async def delete(request: Request) -> Response:
    actor = authorize(request, "compute:aggregates:delete")
    row = await _row(request)
    svc = state(request).services
    receipt = await run_in_threadpool(svc.delete_aggregate, row["uuid"], actor)
    await read_your_writes(request, receipt)
    return Response(status_code=200)


routes = [
    Route("/compute/v2.1/os-aggregates", index, methods=["GET"]),
    Route("/compute/v2.1/os-aggregates", create, methods=["POST"]),
    Route("/compute/v2.1/os-aggregates/{id}", show, methods=["GET"]),
    Route("/compute/v2.1/os-aggregates/{id}", update, methods=["PUT"]),
    Route("/compute/v2.1/os-aggregates/{id}", delete, methods=["DELETE"]),
    Route("/compute/v2.1/os-aggregates/{id}/action", action, methods=["POST"]),
]
