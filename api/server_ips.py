"""Nova's server IPs API: ``GET /servers/{id}/ips`` (a server's addresses
by network name) and ``GET /servers/{id}/ips/{network_label}`` (one
network's), each address as its version and its text only. Tempest's
volume attachment tests read them before they attach."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from api.context import authorize
from api.responses import JSONResponse
from api.server_addresses import addresses_of
from api.servers import visible_server
from domain.errors import NotFound


async def _addresses(request: Request, rule: str) -> dict[str, list[dict[str, Any]]]:
    actor = authorize(request, rule)
    row = await visible_server(request, actor, request.path_params["id"])
    found = (await addresses_of(request, [row])).get(row["id"], {})
    return {
        network: [{"version": entry["version"], "addr": entry["addr"]} for entry in entries]
        for network, entries in found.items()
    }


async def index(request: Request) -> JSONResponse:
    return JSONResponse({"addresses": await _addresses(request, "compute:ips:index")})


async def show(request: Request) -> JSONResponse:
    label = request.path_params["network_label"]
    addresses = await _addresses(request, "compute:ips:show")
    if label not in addresses:
        raise NotFound("Instance is not a member of specified network")
    return JSONResponse({label: addresses[label]})


routes = [
    Route("/compute/v2.1/servers/{id}/ips", index, methods=["GET"]),
    Route("/compute/v2.1/servers/{id}/ips/{network_label}", show, methods=["GET"]),
]
