"""Compute server tags (from microversion 2.26): ``server set/unset --tag``
and the ``/servers/{id}/tags`` routes. Each change is one TagsSet event of
the whole new set (domain/tags.py checks Nova's limits)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import microversion
from api.context import accepts, authorize, base_url, parse_body, read_your_writes, state
from api.responses import JSONResponse
from api.servers import visible_server
from domain.errors import NotFound
from domain.values import Actor

TAGS_FROM = (2, 26)


class TagsBody(BaseModel):
    tags: list[str] = Field(max_length=1024)  # the Instance allows 50


def _authorized(request: Request, rule: str) -> Actor:
    """Tags exist from 2.26; below it the routes are unknown (404), as in
    Nova, to those the policy lets ask at all."""
    actor = authorize(request, f"compute:server_tags:{rule}")
    if microversion.requested(request) < TAGS_FROM:
        raise NotFound("The resource could not be found.")
    return actor


async def _tags(request: Request, actor: Actor) -> list[str]:
    row = await visible_server(request, actor, request.path_params["id"])
    return list(row["tags"])


async def _change(request: Request, actor: Actor, change: Callable[[list[str]], list[str]]) -> None:
    svc, server_id = state(request).services, request.path_params["id"]
    receipt = await run_in_threadpool(svc.change_server_tags, server_id, change, actor)
    await read_your_writes(request, receipt)


async def index(request: Request) -> JSONResponse:
    actor = _authorized(request, "index")
    return JSONResponse({"tags": await _tags(request, actor)})


async def check(request: Request) -> Response:
    """204 if the server has the tag, 404 if not."""
    actor = _authorized(request, "show")
    tag = request.path_params["tag"]
    if tag not in await _tags(request, actor):
        raise NotFound(f"Instance has no tag {tag!r}")
    return Response(status_code=204)


@accepts(TagsBody)
async def replace_all(request: Request) -> JSONResponse:
    actor = _authorized(request, "update_all")
    wanted = (await parse_body(request, TagsBody)).tags
    await _change(request, actor, lambda _old: wanted)
    return JSONResponse({"tags": await _tags(request, actor)})


async def add(request: Request) -> Response:
    """201 with the tag's Location when it is new, 204 when it was there."""
    actor = _authorized(request, "update")
    tag = request.path_params["tag"]
    had = tag in await _tags(request, actor)
    await _change(request, actor, lambda old: old if tag in old else [*old, tag])
    if had:
        return Response(status_code=204)
    location = f"{base_url(request)}/compute/v2.1/servers/{request.path_params['id']}/tags/{tag}"
    return Response(status_code=201, headers={"Location": location})


async def delete(request: Request) -> Response:
    actor = _authorized(request, "delete")
    tag = request.path_params["tag"]

    def without(old: list[str]) -> list[str]:
        if tag not in old:
            raise NotFound(f"Instance has no tag {tag!r}")
        return [t for t in old if t != tag]

    await _change(request, actor, without)
    return Response(status_code=204)


async def delete_all(request: Request) -> Response:
    actor = _authorized(request, "delete_all")
    await _change(request, actor, lambda _old: [])
    return Response(status_code=204)


_TAGS = "/compute/v2.1/servers/{id}/tags"
routes = [
    Route(_TAGS, index, methods=["GET"]),
    Route(_TAGS, replace_all, methods=["PUT"]),
    Route(_TAGS, delete_all, methods=["DELETE"]),
    Route(_TAGS + "/{tag}", check, methods=["GET"]),
    Route(_TAGS + "/{tag}", add, methods=["PUT"]),
    Route(_TAGS + "/{tag}", delete, methods=["DELETE"]),
]
