"""The Widget's API side, a service of its own: the workshop, at
/workshop/v1/{project_id} (the project in the path, as Cinder's), with its
version documents, its catalog entry, its error shape, its microversions
(``OpenStack-API-Version: workshop 1.x``) and a policy rule per route.
Nothing of cloudledger's own names any of it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.rows import DictRow
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from api.context import accepts, authorize, base_url, parse_body, read_your_writes, state
from api.declarations import ApiResource, CatalogEntry, Microversions, Service
from api.error_shapes import ErrorShape
from api.negotiation import fmt, negotiated
from api.policy import MEMBER, READER
from api.responses import JSONResponse
from domain.errors import NotFound
from domain.values import Actor
from tests.plugin_widget.commands import request_widget
from tests.plugin_widget.domain import Finish
from tests.plugin_widget.projections import widget

PREFIX = "/workshop/v1"
MICROVERSIONS = Microversions(
    "workshop",
    f"{PREFIX}/",
    (1, 0),
    (1, 2),
    malformed="Not a workshop version: {value!r}",
)
FINISH_SHOWN = (1, 2)  # a widget's finish is shown from 1.2


class WorkshopErrors(ErrorShape):
    """The workshop's own shape: ``{"workshopFault": {"status", "reason"}}``."""

    def body(self, status: int, message: str) -> dict[str, Any]:
        return {"workshopFault": {"status": status, "reason": message}}


class _Finish(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(min_length=1, max_length=32, pattern=r"^[a-z ]+$")
    coats: int = Field(ge=1, le=9)


class _NewWidget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[\w-]+$")
    finish: _Finish


class CreateWidgetBody(BaseModel):
    widget: _NewWidget


def _version_doc(request: Request) -> dict[str, Any]:
    return {
        "id": "v1",
        "status": "CURRENT",
        "version": fmt(MICROVERSIONS.maximum),
        "min_version": fmt(MICROVERSIONS.minimum),
        "links": [{"rel": "self", "href": f"{base_url(request)}{PREFIX}/"}],
    }


async def versions(request: Request) -> JSONResponse:
    return JSONResponse({"versions": [_version_doc(request)]})


def _in_own_project(request: Request, rule: str) -> Actor:
    """The caller, if the rule lets them and the path's project is theirs
    (another project is as if it did not exist)."""
    actor = authorize(request, rule)
    project_id: str = request.path_params["project_id"]
    if project_id != actor.project_id:
        raise NotFound(f"Project {project_id[:64]} could not be found.")
    return actor


def _shown(request: Request, row: DictRow) -> dict[str, Any]:
    shown = {"id": str(row["id"]), "name": row["name"], "state": row["state"]}
    if negotiated(request, MICROVERSIONS) >= FINISH_SHOWN:
        shown["finish"] = row["finish"]
    return shown


async def _widget(request: Request, actor: Actor, project_id: str, widget_id: str) -> DictRow:
    """One of the caller's project's widgets: unknown, malformed or another
    project's, the same 404."""
    try:
        ident = UUID(widget_id)
    except ValueError:
        ident = None
    row = None
    if ident is not None and project_id == actor.project_id:
        row = await state(request).reads.one(widget(project_id, ident))
    if row is None:
        raise NotFound(f"Widget {widget_id[:64]} could not be found.")
    return row


@accepts(CreateWidgetBody)
async def create(request: Request) -> JSONResponse:
    """Request a widget; the workshop's worker polishes it."""
    actor = _in_own_project(request, "workshop:widgets:create")
    asked = (await parse_body(request, CreateWidgetBody)).widget
    finish = Finish(asked.finish.kind, asked.finish.coats)
    app = state(request).services.app
    receipt = await run_in_threadpool(request_widget, app, actor.project_id, asked.name, finish)
    await read_your_writes(request, receipt)  # the answer is what a GET shows now
    row = await _widget(request, actor, actor.project_id, str(receipt.id))
    return JSONResponse({"widget": _shown(request, row)}, 202)


async def show(request: Request) -> JSONResponse:
    """One of the project's widgets."""
    actor = authorize(request, "workshop:widgets:show")
    path = request.path_params
    row = await _widget(request, actor, path["project_id"], path["id"])
    return JSONResponse({"widget": _shown(request, row)})


routes = [
    Route("/workshop", versions),
    Route(f"{PREFIX}/", versions),
    Route(f"{PREFIX}/{{project_id}}/widgets", create, methods=["POST"]),
    Route(f"{PREFIX}/{{project_id}}/widgets/{{id}}", show, methods=["GET"]),
]

RESOURCE = ApiResource(
    "widget",
    routes,
    policy={"workshop:widgets:create": MEMBER, "workshop:widgets:show": READER},
    public=("GET /workshop", f"GET {PREFIX}/"),
    service=Service(
        "/workshop",
        "Workshop v1",
        catalog=(CatalogEntry("workshop", "workshop", f"{PREFIX}/{{project_id}}"),),
        errors=WorkshopErrors(),
        microversions=MICROVERSIONS,
    ),
)
