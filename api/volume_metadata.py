"""Metadata of volumes and snapshots, as Cinder serves it:
``/volumes/{id}/metadata[/{key}]`` and ``/snapshots/{id}/metadata[/{key}]``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import accepts, parse_body, read_your_writes
from api.errors import BadRequest
from api.responses import JSONResponse
from api.volume_snapshots import visible_snapshot_row
from api.volume_state import volume_state
from api.volumes import V3, cinder_actor, visible_volume_row
from commands.receipt import Receipt
from domain.errors import NotFound
from domain.values import Actor

Metadata = dict[str, str]
Change = Callable[[Metadata], Metadata]


class MetadataBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metadata: dict[str, str]


class MetaBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    meta: dict[str, str]


class _Kind:
    """Volumes or snapshots: how to read one's metadata and change it, and
    the rules that guard reading, changing and deleting it."""

    def __init__(
        self,
        name: str,
        rules: tuple[str, str, str],
        read: Callable[[Request, Actor, str], Awaitable[Any]],
        change: Callable[[Request], Callable[[str, Change, Actor], Receipt]],
    ) -> None:
        self.name, self.read, self.change = name, read, change
        self.get_rule, self.update_rule, self.delete_rule = rules

    async def current(self, request: Request, actor: Actor) -> Metadata:
        row = await self.read(request, actor, request.path_params["id"])
        return dict(row["metadata"])

    async def apply(self, request: Request, actor: Actor, change: Change) -> Metadata:
        ident = request.path_params["id"]
        await self.read(request, actor, ident)
        handler = self.change(request)
        receipt = await run_in_threadpool(handler, ident, change, actor)
        await read_your_writes(request, receipt)
        return await self.current(request, actor)


VOLUMES = _Kind(
    "Volume",
    (
        "volume:volumes:metadata:get",
        "volume:volumes:metadata:update",
        "volume:volumes:metadata:delete",
    ),
    visible_volume_row,
    lambda request: volume_state(request).commands.change_volume_metadata,
)
SNAPSHOTS = _Kind(
    "Snapshot",
    (
        "volume:snapshots:metadata:get",
        "volume:snapshots:metadata:update",
        "volume:snapshots:metadata:delete",
    ),
    visible_snapshot_row,
    lambda request: volume_state(request).commands.change_snapshot_metadata,
)


def _routes(kind: _Kind, collection: str) -> list[Route]:
    async def show_all(request: Request) -> JSONResponse:
        actor = cinder_actor(request, kind.get_rule)
        return JSONResponse({"metadata": await kind.current(request, actor)})

    @accepts(MetadataBody)
    async def merge(request: Request) -> JSONResponse:
        actor = cinder_actor(request, kind.update_rule)
        given = (await parse_body(request, MetadataBody)).metadata
        found = await kind.apply(request, actor, lambda old: {**old, **given})
        return JSONResponse({"metadata": found})

    @accepts(MetadataBody)
    async def replace(request: Request) -> JSONResponse:
        actor = cinder_actor(request, kind.update_rule)
        given = (await parse_body(request, MetadataBody)).metadata
        found = await kind.apply(request, actor, lambda _: dict(given))
        return JSONResponse({"metadata": found})

    async def show_item(request: Request) -> JSONResponse:
        actor = cinder_actor(request, kind.get_rule)
        key = request.path_params["key"]
        found = await kind.current(request, actor)
        if key not in found:
            raise NotFound(f"Metadata with key {key[:64]} could not be found.")
        return JSONResponse({"meta": {key: found[key]}})

    @accepts(MetaBody)
    async def set_item(request: Request) -> JSONResponse:
        actor = cinder_actor(request, kind.update_rule)
        key = request.path_params["key"]
        given = (await parse_body(request, MetaBody)).meta
        if len(given) != 1:
            raise BadRequest("Request body contains too many items.")
        if key not in given:
            raise BadRequest("Request body and URI mismatch")
        await kind.apply(request, actor, lambda old: {**old, key: given[key]})
        return JSONResponse({"meta": {key: given[key]}})

    async def delete_item(request: Request) -> Response:
        actor = cinder_actor(request, kind.delete_rule)
        key = request.path_params["key"]
        if key not in await kind.current(request, actor):
            raise NotFound(f"Metadata with key {key[:64]} could not be found.")
        await kind.apply(request, actor, lambda old: {k: v for k, v in old.items() if k != key})
        return Response(status_code=200)

    base = f"{V3}/{collection}/{{id}}/metadata"
    return [
        Route(base, show_all, methods=["GET"]),
        Route(base, merge, methods=["POST"]),
        Route(base, replace, methods=["PUT"]),
        Route(f"{base}/{{key}}", show_item, methods=["GET"]),
        Route(f"{base}/{{key}}", set_item, methods=["PUT"]),
        Route(f"{base}/{{key}}", delete_item, methods=["DELETE"]),
    ]


routes = [*_routes(VOLUMES, "volumes"), *_routes(SNAPSHOTS, "snapshots")]
