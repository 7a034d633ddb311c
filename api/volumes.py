"""Block Storage v3 volumes: create, list, detail, show, update, delete,
summary (at ``/volume/v3/{project_id}``, in Cinder's shapes)."""

from __future__ import annotations

import ast
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import volume_microversion as mv
from api import volume_views as views
from api.context import NO_CONTROL_CHARS, accepts, authorize, parse_body, read_your_writes, state
from api.errors import BadRequest
from api.responses import JSONResponse
from api.volume_state import volume_state
from commands.volumes import CreateVolume
from domain.errors import NotFound
from domain.values import INT32_MAX, Actor
from projections.volume_queries import (
    SORT_COLUMNS,
    VolumeFilters,
    volume_by_id,
    volumes_page,
    volumes_summary,
)

V3 = "/volume/v3/{project_id}"
MAX_PAGE = 1000  # Cinder's osapi_max_limit
_TRUE, _FALSE = ("true", "1", "yes", "t", "on"), ("false", "0", "no", "f", "off")
# The query parameters a volume list takes besides its filters.
_PAGING = {"limit", "marker", "offset", "sort", "sort_key", "sort_dir", "with_count"}
_SCOPE = {"all_tenants", "project_id"}
_FILTERS = {"name", "status", "metadata", "availability_zone", "bootable", "size", "name~"}


def cinder_actor(request: Request, rule: str) -> Actor:
    """The caller, allowed ``rule``, naming its own project in the URL (as
    Cinder, "Malformed request url" otherwise)."""
    actor = authorize(request, rule)
    if request.path_params.get("project_id") != actor.project_id:
        raise BadRequest("Malformed request url")
    return actor


def parse_uuid_or_404(value: str, label: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise NotFound(f"{label} {value[:64]} could not be found.") from None


async def visible_volume_row(request: Request, actor: Actor, volume_id: str) -> Any:
    row = await state(request).reads.one(volume_by_id(parse_uuid_or_404(volume_id, "Volume")))
    if row is None or not (actor.is_admin or row["project_id"] == actor.project_id):
        raise NotFound(f"Volume {volume_id[:64]} could not be found.")
    return row


def _metadata(value: dict[str, str] | None) -> dict[str, str]:
    return dict(value or {})


class VolumeSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    size: int | None = Field(default=None, ge=1, le=INT32_MAX)
    name: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    display_name: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    description: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    display_description: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    availability_zone: str | None = Field(default=None, max_length=255)
    volume_type: str | None = Field(default=None, max_length=255)
    imageRef: str | None = Field(default=None, max_length=255)
    image_id: str | None = Field(default=None, max_length=255)
    snapshot_id: str | None = Field(default=None, max_length=255)
    source_volid: str | None = Field(default=None, max_length=255)
    backup_id: str | None = None
    metadata: dict[str, str] | None = None

    @field_validator("size", mode="before")
    @classmethod
    def _whole_gib(cls, value: Any) -> Any:
        """Cinder takes an integer or a string of digits, never a bool or a float."""
        if isinstance(value, bool | float):
            raise ValueError("size must be an integer")
        if isinstance(value, str) and not value.strip().isdigit():
            raise ValueError("size must be an integer")
        return value


class CreateVolumeBody(BaseModel):
    volume: VolumeSpec


@accepts(CreateVolumeBody)
async def create(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:volumes:create")
    spec = (await parse_body(request, CreateVolumeBody)).volume
    if spec.backup_id:
        raise BadRequest("Invalid input received: volumes from backups are not supported")
    cmd = CreateVolume(
        size=spec.size,
        name=spec.name if spec.name is not None else spec.display_name or "",
        description=spec.description
        if spec.description is not None
        else spec.display_description or "",
        availability_zone=spec.availability_zone or "",
        volume_type=spec.volume_type or "",
        image_id=spec.imageRef or spec.image_id or "",
        snapshot_id=spec.snapshot_id or "",
        source_volid=spec.source_volid or "",
        metadata=_metadata(spec.metadata),
    )
    receipt = await volume_state(request).creates.run(actor.project_id, (cmd, actor))
    await read_your_writes(request, receipt)
    row = await visible_volume_row(request, actor, str(receipt.id))
    return JSONResponse({"volume": _legacy(views.volume(request, row, actor))}, 202)


# Create and update answer without the extensions' attributes (tempest's
# schemas for them allow none), as Cinder's do.
_EXTENSION_KEYS = (
    "os-vol-tenant-attr:tenant_id",
    "volume_image_metadata",
    "os-vol-host-attr:host",
    "os-vol-mig-status-attr:migstat",
    "os-vol-mig-status-attr:name_id",
)


def _legacy(shown: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in shown.items() if k not in _EXTENSION_KEYS}


def _bool(value: str, what: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadRequest(f"Invalid input received: '{what} = {value[:20]}'")


def _int(value: str, what: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Invalid input received: {what} must be an integer") from None
    if number < minimum:
        raise BadRequest(f"Invalid input received: {what} must be >= {minimum}")
    return number


def metadata_filter(value: str) -> dict[str, str]:
    """Cinder reads the metadata filter as a Python literal ("{'k': 'v'}")."""
    try:
        found = ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise BadRequest("Invalid input received: metadata must be a dict") from None
    if not isinstance(found, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in found.items()
    ):
        raise BadRequest("Invalid input received: metadata must be a dict of strings")
    return found


def sort_params(request: Request, known: set[str] | dict[str, str]) -> list[tuple[str, str]]:
    """Cinder's ``sort=k1:dir,k2`` or the older ``sort_key`` and ``sort_dir``."""
    params = request.query_params
    if "sort" in params and ("sort_key" in params or "sort_dir" in params):
        raise BadRequest(
            "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used "
            "with the 'sort' parameter."
        )
    pairs: list[tuple[str, str]] = []
    if "sort" in params:
        for part in params["sort"].split(","):
            key, _, direction = part.partition(":")
            pairs.append((key.strip(), (direction or "desc").strip()))
    elif "sort_key" in params or "sort_dir" in params:
        pairs.append((params.get("sort_key", "created_at"), params.get("sort_dir", "desc")))
    for key, direction in pairs:
        if key not in known:
            raise BadRequest(f"Invalid input received: Invalid sort key {key[:40]!r}")
        if direction.lower() not in ("asc", "desc"):
            raise BadRequest(f"Invalid input received: Invalid sort dir {direction[:20]!r}")
    return [(k, d.lower()) for k, d in pairs]


def paging(request: Request) -> tuple[int, int]:
    params = request.query_params
    limit = min(_int(params["limit"], "limit"), MAX_PAGE) if "limit" in params else MAX_PAGE
    offset = _int(params["offset"], "offset") if "offset" in params else 0
    return limit, offset


def listing_scope(request: Request, actor: Actor) -> str | None:
    """The project listed: the caller's, or with an admin's all_tenants any
    (or the one named by project_id)."""
    params = request.query_params
    asked = "all_tenants" in params and params["all_tenants"].lower() not in _FALSE
    if asked and state(request).policy.allowed(actor, "volume:volumes:get_all:all_tenants"):
        return params.get("project_id")
    return actor.project_id


def _filters(request: Request) -> VolumeFilters:
    params = request.query_params
    unknown = set(params) - _PAGING - _SCOPE - _FILTERS
    if "name~" in params and not mv.at_least(request, mv.LIKE_FILTER):
        unknown.add("name~")
    if unknown:
        shown = ", ".join(sorted(k[:40] for k in unknown))
        raise BadRequest(f"Invalid filters {shown} are found in query options.")
    return VolumeFilters(
        name=params.get("name"),
        name_contains=params.get("name~"),
        status=params.get("status"),
        metadata=metadata_filter(params["metadata"]) if "metadata" in params else {},
        availability_zone=params.get("availability_zone"),
        bootable=_bool(params["bootable"], "bootable") if "bootable" in params else None,
        size=_int(params["size"], "size") if "size" in params else None,
    )


async def _listing(request: Request, actor: Actor) -> tuple[list[Any], int]:
    filters = _filters(request)
    sort = sort_params(request, SORT_COLUMNS) or [("created_at", "desc")]
    limit, offset = paging(request)
    marker = None
    if "marker" in request.query_params:
        given = request.query_params["marker"]
        await visible_volume_row(request, actor, given)  # Cinder: 404 for an unknown marker
        marker = UUID(given)
    page = volumes_page(listing_scope(request, actor), limit, filters, sort, marker, offset)
    return await state(request).reads.all(page), limit


def _with_count(request: Request, body: dict[str, Any], rows: list[Any]) -> None:
    params = request.query_params
    counted = mv.at_least(request, mv.SUPPORT_COUNT_INFO) and "with_count" in params
    if counted and _bool(params["with_count"], "with_count"):
        body["count"] = rows[0]["total"] if rows else 0


async def index(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:volumes:get_all")
    rows, limit = await _listing(request, actor)
    body: dict[str, Any] = {"volumes": [views.volume_summary(request, r) for r in rows]}
    if more := views.next_link(request, "volumes", rows, limit):
        body["volumes_links"] = more
    _with_count(request, body, rows)
    return JSONResponse(body)


async def detail(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:volumes:get_all")
    rows, limit = await _listing(request, actor)
    body: dict[str, Any] = {"volumes": [views.volume(request, r, actor) for r in rows]}
    if more := views.next_link(request, "volumes/detail", rows, limit):
        body["volumes_links"] = more
    _with_count(request, body, rows)
    return JSONResponse(body)


async def show(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:volumes:get")
    row = await visible_volume_row(request, actor, request.path_params["id"])
    return JSONResponse({"volume": views.volume(request, row, actor)})


class VolumeChange(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    display_name: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    description: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    display_description: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    metadata: dict[str, str] | None = None


class UpdateVolumeBody(BaseModel):
    volume: VolumeChange


@accepts(UpdateVolumeBody)
async def update(request: Request) -> JSONResponse:
    """``volume set --name/--description/--property`` (metadata replaces)."""
    actor = cinder_actor(request, "volume:volumes:update")
    change = (await parse_body(request, UpdateVolumeBody)).volume
    volume_id = request.path_params["id"]
    await visible_volume_row(request, actor, volume_id)
    commands = volume_state(request).commands
    name = change.name if change.name is not None else change.display_name
    description = (
        change.description if change.description is not None else change.display_description
    )
    receipts = []
    if name is not None or description is not None:
        receipts.append(
            await run_in_threadpool(commands.update_volume, volume_id, name, description, actor)
        )
    if change.metadata is not None:
        wanted = dict(change.metadata)
        receipts.append(
            await run_in_threadpool(
                commands.change_volume_metadata, volume_id, lambda _: wanted, actor
            )
        )
    for receipt in receipts:
        await read_your_writes(request, receipt)
    row = await visible_volume_row(request, actor, volume_id)
    return JSONResponse({"volume": _legacy(views.volume(request, row, actor))})


async def delete(request: Request) -> Response:
    actor = cinder_actor(request, "volume:volumes:delete")
    volume_id = request.path_params["id"]
    commands = volume_state(request).commands
    receipt = await run_in_threadpool(commands.delete_volume, volume_id, actor)
    await read_your_writes(request, receipt)
    return Response(status_code=202)


async def summary(request: Request) -> JSONResponse:
    """``volume summary`` (3.12; its metadata from 3.36)."""
    actor = cinder_actor(request, "volume:volumes:get_all")
    if not mv.at_least(request, mv.VOLUME_SUMMARY):
        raise NotFound("The resource could not be found.")
    row = await state(request).reads.one(volumes_summary(listing_scope(request, actor)))
    assert row is not None  # an aggregate query always answers
    shown: dict[str, Any] = {"total_count": row["total_count"], "total_size": row["total_size"]}
    if mv.at_least(request, (3, 36)):
        shown["metadata"] = row["metadata"]
    return JSONResponse({"volume-summary": shown})


async def no_volume(request: Request) -> Response:
    """``/volumes/`` with no id names no volume: 404, as Cinder answers (not
    a redirect to the list)."""
    cinder_actor(request, "volume:volumes:get")
    raise NotFound("Volume could not be found.")


routes = [
    Route(f"{V3}/volumes/", no_volume, methods=["GET", "PUT", "DELETE"]),
    Route(f"{V3}/volumes", create, methods=["POST"]),
    Route(f"{V3}/volumes", index, methods=["GET"]),
    Route(f"{V3}/volumes/detail", detail, methods=["GET"]),
    Route(f"{V3}/volumes/summary", summary, methods=["GET"]),
    Route(f"{V3}/volumes/{{id}}", show, methods=["GET"]),
    Route(f"{V3}/volumes/{{id}}", update, methods=["PUT"]),
    Route(f"{V3}/volumes/{{id}}", delete, methods=["DELETE"]),
]
