"""Compute v2.1 os-instance-actions (``server event list`` / ``show``),
served from the instance actions read model."""

from __future__ import annotations

from typing import Any

from psycopg.rows import DictRow
from starlette.requests import Request
from starlette.routing import Route

from api import microversion
from api.context import authorize, state
from api.responses import JSONResponse
from api.servers import visible_server
from domain.errors import NotFound
from projections.instance_actions import action, actions_of, steps


def _shape(row: DictRow) -> dict[str, Any]:
    return {
        "action": row["action"],
        "instance_uuid": row["instance_uuid"],
        "message": row["message"],
        "project_id": row["project_id"],
        "request_id": row["request_id"],
        "start_time": row["start_time"],
        "user_id": row["user_id"],
    }


async def index(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:instance_actions:index")
    row = await visible_server(request, actor, request.path_params["id"])
    rows = await state(request).reads.all(actions_of(row["id"]))
    return JSONResponse({"instanceActions": [_shape(r) for r in rows]})


async def show(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:instance_actions:show")
    server = await visible_server(request, actor, request.path_params["id"])
    request_id = request.path_params["request_id"]
    row = await state(request).reads.one(action(server["id"], request_id))
    if row is None:
        raise NotFound(f"Action {request_id} on instance {server['id']} could not be found.")
    shown = _shape(row)
    # Those allowed (admins, by default) see the steps and their tracebacks;
    # from 2.51 everyone who sees the action sees its steps, without those.
    full = state(request).policy.allowed(actor, "compute:instance_actions:events")
    if full or microversion.requested(request) >= (2, 51):
        events = await state(request).reads.all(steps(server["id"], request_id))
        shown["events"] = [_step(e, full) for e in events]
    return JSONResponse({"instanceAction": shown})


def _step(row: DictRow, traceback: bool) -> dict[str, Any]:
    shown = {
        "event": row["event"],
        "start_time": row["start_time"],
        "finish_time": row["finish_time"],
        "result": row["result"],
    }
    if traceback:
        shown["traceback"] = None  # a failure's message is on the server's fault
    return shown


routes = [
    Route("/compute/v2.1/servers/{id}/os-instance-actions", index, methods=["GET"]),
    Route("/compute/v2.1/servers/{id}/os-instance-actions/{request_id}", show, methods=["GET"]),
]
