"""os-interface: a server's ports listed, attached (``server add port``,
``server add network``) and detached (``server remove port``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import accepts, authorize, parse_body, read_your_writes, state
from api.errors import BadRequest
from api.responses import JSONResponse
from api.servers import visible_server
from commands.server_interfaces import attach_interface, detach_interface
from domain.errors import NotFound
from projections.network_ports import ports_of_servers

# os-interface ----------------------------------------------------------------


class _FixedIp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ip_address: str = Field(max_length=64)


class _Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port_id: str | None = Field(default=None, max_length=64)
    net_id: str | None = Field(default=None, max_length=64)
    fixed_ips: list[_FixedIp] | None = Field(default=None, max_length=1)
    tag: str | None = Field(default=None, max_length=60)


class AttachInterfaceBody(BaseModel):
    interfaceAttachment: _Attachment = Field(default_factory=_Attachment)


def _attachment(port: dict[str, Any]) -> dict[str, Any]:
    """Nova's view of an attachment: no server_id (tempest's schema, as
    Nova's API, allows none of it)."""
    return {
        "port_id": port["id"],
        "net_id": port["network_id"],
        "mac_addr": port["mac_address"],
        "port_state": port["status"],
        "fixed_ips": port["fixed_ips"],
    }


async def _ports(request: Request, server: Any) -> list[dict[str, Any]]:
    rows = await state(request).reads.all(ports_of_servers([str(server["id"])]))
    return [
        r["port"]
        for r in rows
        if r["port"]["project_id"] == server["project_id"]
        and str(r["port"]["device_owner"]).startswith("compute:")
    ]


async def list_interfaces(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:os_interface:list")
    server = await visible_server(request, actor, request.path_params["id"])
    ports = await _ports(request, server)
    return JSONResponse({"interfaceAttachments": [_attachment(p) for p in ports]})


async def show_interface(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:os_interface:show")
    server = await visible_server(request, actor, request.path_params["id"])
    for port in await _ports(request, server):
        if port["id"] == request.path_params["port_id"]:
            return JSONResponse({"interfaceAttachment": _attachment(port)})
    raise NotFound(f"Network interface {request.path_params['port_id'][:64]} could not be found.")


@accepts(AttachInterfaceBody)
async def attach(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:os_interface:create")
    server_id = request.path_params["id"]
    await visible_server(request, actor, server_id)
    body = (await parse_body(request, AttachInterfaceBody)).interfaceAttachment
    fixed = body.fixed_ips[0].ip_address if body.fixed_ips else ""
    if body.port_id and (body.net_id or fixed):
        raise BadRequest("Specify either a port_id or a net_id (with fixed_ips), not both")
    made = await run_in_threadpool(
        attach_interface,
        state(request).services.app,
        server_id,
        body.port_id or "",
        body.net_id or "",
        fixed,
        actor,
    )
    await read_your_writes(request, made.receipt)
    server = await visible_server(request, actor, server_id)
    for port in await _ports(request, server):
        if port["id"] == str(made.id):
            return JSONResponse({"interfaceAttachment": _attachment(port)})
    raise NotFound(f"Port {made.id} could not be found.")  # pragma: no cover - just attached


async def detach(request: Request) -> Response:
    actor = authorize(request, "compute:os_interface:delete")
    server_id = request.path_params["id"]
    await visible_server(request, actor, server_id)
    receipt = await run_in_threadpool(
        detach_interface,
        state(request).services.app,
        server_id,
        request.path_params["port_id"],
        actor,
    )
    await read_your_writes(request, receipt)
    return Response(status_code=202)


_SERVER = "/compute/v2.1/servers/{id}/os-interface"
routes = [
    Route(_SERVER, list_interfaces, methods=["GET"]),
    Route(_SERVER, attach, methods=["POST"]),
    Route(f"{_SERVER}/{{port_id}}", show_interface, methods=["GET"]),
    Route(f"{_SERVER}/{{port_id}}", detach, methods=["DELETE"]),
]
