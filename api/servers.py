"""Compute v2.1 servers: create, list, detail, show, delete, start/stop actions."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from psycopg.rows import DictRow
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import microversion, server_microversions, server_views, server_volumes
from api import server_addresses as addressing
from api.context import (
    NO_CONTROL_CHARS,
    accepts,
    authorize,
    parse_body,
    read_your_writes,
    state,
)
from api.errors import BadRequest
from api.responses import JSONResponse
from api.server_addresses import addresses_of, boot_networks, security_groups_of
from api.server_views import links as _links
from api.server_volumes import BlockDeviceSpec
from api.volume_views import volumes_attached
from commands.receipt import Receipt
from commands.servers import BootServer
from domain import server_states
from domain.errors import NotFound
from domain.values import Actor
from projections.hosts import all_hosts
from projections.servers import ServerFilters, server_by_id, servers_page

_PASSWORD_SYMBOLS = string.ascii_letters + string.digits
MAX_PAGE = 1000
MAX_MULTI_CREATE = 100  # servers one request may boot


class ServerSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
    imageRef: str = ""  # "" only when a volume is the root disk (block_device_mapping_v2)
    flavorRef: str = Field(min_length=1)
    networks: Literal["none", "auto"] | list[Any] = "auto"
    min_count: int = Field(default=1, ge=1, le=MAX_MULTI_CREATE)
    max_count: int | None = Field(default=None, ge=1, le=MAX_MULTI_CREATE)
    metadata: dict[str, str] = Field(default_factory=dict)
    description: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    key_name: str | None = Field(default=None, min_length=1, max_length=255)
    tags: list[str] | None = Field(default=None, max_length=1024)  # from 2.52
    # Shown as given, checked by the domain (domain/access_addresses.py).
    accessIPv4: str | None = Field(default=None, max_length=64)
    accessIPv6: str | None = Field(default=None, max_length=64)
    # Returned once in the answer, as Nova does; never stored (no guest receives it yet).
    adminPass: str | None = Field(default=None, max_length=255)
    # "ZONE", or an admin's "ZONE:HOST", "ZONE::NODE" or "ZONE:HOST:NODE".
    availability_zone: str | None = Field(
        default=None, min_length=1, max_length=255, pattern=NO_CONTROL_CHARS
    )
    block_device_mapping_v2: list[BlockDeviceSpec] | None = Field(default=None, max_length=26)
    security_groups: list[addressing.BootGroup] | None = Field(None, max_length=16)


class _SchedulerHints(BaseModel):
    model_config = ConfigDict(extra="ignore")
    group: str | None = Field(default=None, max_length=64)


class CreateServer(BaseModel):
    server: ServerSpec
    # Nova reads either name; openstacksdk sends the older one.
    hints: _SchedulerHints | None = Field(default=None, alias="os:scheduler_hints")
    old_hints: _SchedulerHints | None = Field(default=None, alias="OS-SCH-HNT:scheduler_hints")


def _group_hint(body: CreateServer) -> str:
    hints = body.hints or body.old_hints
    return (hints.group if hints else None) or ""


def render(
    request: Request,
    row: DictRow,
    actor: Actor,
    addresses: dict[str, Any] | None = None,
    volumes: dict[str, list[Any]] | None = None,
    groups: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    sid, host = row["id"], row["host"]
    host_id = server_views.host_id(row["project_id"], host) if host else ""
    server: dict[str, Any] = {
        "id": sid,
        "name": row["name"],
        "status": server_states.status(row["vm_state"], row["task_state"]),
        "tenant_id": row["project_id"],
        "user_id": row["user_id"],
        "metadata": row["metadata"],
        "hostId": host_id,
        "image": server_volumes.shown_image(request, row["image_id"]),
        "flavor": server_views.flavor(request, row, actor),
        "created": row["created"],
        "updated": row["updated"],
        "addresses": addresses or {},
        "accessIPv4": row["access_ipv4"],
        "accessIPv6": row["access_ipv6"],
        "links": _links(request, "servers", sid),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-STS:vm_state": row["vm_state"],
        "OS-EXT-STS:task_state": row["task_state"],
        "OS-EXT-STS:power_state": server_states.power_code(row["power_state"]),
        "OS-EXT-AZ:availability_zone": row["zone"],
        "OS-SRV-USG:launched_at": row["launched"],
        "OS-SRV-USG:terminated_at": row["terminated"],
        "key_name": row["key_name"],
        "config_drive": "",
        "security_groups": [{"name": n} for n in (groups or {}).get(sid, [])],
        "os-extended-volumes:volumes_attached": (volumes or {}).get(sid, []),
        "locked": row["locked"],
        "description": row["description"],
        "tags": row["tags"],
    }
    if actor.is_admin:
        server["OS-EXT-SRV-ATTR:host"] = host
        server["OS-EXT-SRV-ATTR:hypervisor_hostname"] = host
        server["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{sid}"
    if row["fault"]:
        server["fault"] = server_views.fault(row["fault"], actor)
    return server_microversions.shown(server, microversion.requested(request))


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise NotFound(f"Instance {value} could not be found.") from None


@accepts(CreateServer)
async def create(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:servers:create")
    request_body = await parse_body(request, CreateServer)
    spec = request_body.server
    image, devices = server_volumes.boot_devices(spec.imageRef, spec.block_device_mapping_v2)
    cmd = BootServer(
        spec.name,
        spec.flavorRef,
        image,
        boot_networks(spec.networks),
        spec.metadata,
        spec.key_name or "",
        spec.description or "",
        spec.min_count,
        spec.max_count or spec.min_count,
        _group_hint(request_body),
        *await _zone_asked(request, actor, spec.availability_zone),
        tuple(_boot_tags(request, spec.tags)),
        access_ipv4=spec.accessIPv4 or "",
        access_ipv6=spec.accessIPv6 or "",
        block_devices=devices,
        security_groups=await addressing.boot_security_groups(request, actor, spec.security_groups),
    )
    admission = state(request).admission
    in_flight = await admission.in_flight(actor.project_id)
    with admission.boot(actor.project_id, in_flight):
        receipt = await state(request).boots.run(actor.project_id, (cmd, actor))
        await read_your_writes(request, receipt)
    sid = str(receipt.id)
    body = {
        "id": sid,
        "links": _links(request, "servers", sid),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": n} for n in addressing.group_names(spec.security_groups)],
        "adminPass": spec.adminPass or admin_password(),
    }
    return JSONResponse({"server": body}, 202)


def admin_password() -> str:
    """Nova's generated adminPass: 12 random letters and digits."""
    return "".join(secrets.choice(_PASSWORD_SYMBOLS) for _ in range(12))


def _boot_tags(request: Request, tags: list[str] | None) -> list[str]:
    if tags is not None and microversion.requested(request) < (2, 52):
        raise BadRequest("Tags on boot need compute microversion 2.52 or later")
    return tags or []


def _tag_list(value: str | None) -> tuple[str, ...]:
    return tuple(t for t in (value or "").split(",") if t)


async def _zone_asked(request: Request, actor: Actor, asked: str | None) -> tuple[str, str]:
    """(zone, forced host) of a boot's ``availability_zone``. The zone must
    have a host (400 otherwise); naming a host is for admins (403), and it
    must be one of the zone's hosts."""
    if not asked:
        return "", ""
    zone, _, rest = asked.partition(":")
    host, _, node = rest.partition(":")
    forced = host or node
    if forced:
        state(request).policy.enforce(actor, "compute:servers:create:forced_host")
    hosts = {r["name"]: r["zone"] for r in await state(request).reads.all(all_hosts())}
    if zone and zone not in hosts.values():
        raise BadRequest(f"The requested availability zone is not available: {zone}")
    if forced and (forced not in hosts or (zone and hosts[forced] != zone)):
        raise BadRequest(f"No compute host {forced} in availability zone {zone or '(any)'}")
    if host and node and host != node:
        raise BadRequest("A host's only node is the host itself")
    return zone, forced


async def _listing(request: Request, actor: Actor) -> list[DictRow]:
    params = request.query_params
    project: str | None = actor.project_id
    if params.get("all_tenants") in ("1", "true", "True", ""):
        authorize(request, "compute:servers:index:all_tenants")
        project = params.get("project_id") or params.get("tenant_id")
    try:
        limit = min(int(params.get("limit", MAX_PAGE)), MAX_PAGE)
    except ValueError:
        raise BadRequest("limit must be an integer") from None
    if limit < 0:
        raise BadRequest("limit must be >= 0")
    marker = await _marker(request, actor, params["marker"]) if "marker" in params else None
    vm_states: tuple[str, ...] = ()
    task_states: tuple[str, ...] = ()
    if "status" in params:
        status = params["status"].upper()  # Nova takes "active" as well as "ACTIVE"
        vm_states = server_states.vm_states_shown_as(status)
        task_states = server_states.task_states_shown_as(status)
        if not (vm_states or task_states) and microversion.requested(request) < (2, 38):
            return []  # Nova's answer before 2.38: nothing has that status
        if not (vm_states or task_states):
            raise BadRequest(f"Invalid status value: {params['status']}")
    filters = ServerFilters(
        params.get("name"),
        vm_states,
        _changes_since(params.get("changes-since")),
        # Admins only, as in Nova; others' filters on these are ignored.
        params.get("host") if actor.is_admin else None,
        _flag(params.get("deleted")) if actor.is_admin else None,
        task_states,
        _tag_list(params.get("tags")),
        _tag_list(params.get("tags-any")),
        _tag_list(params.get("not-tags")),
        _tag_list(params.get("not-tags-any")),
        image_id=_ref_id(params.get("image")),
        flavor_id=_ref_id(params.get("flavor")),
    )
    page = servers_page(project, limit, marker, filters=filters)
    rows = await state(request).reads.all(page)
    wanted = params.get("ip") or params.get("ip6")
    if wanted is not None:  # Nova's address filter: servers with an address starting so
        addresses = await addresses_of(request, rows)
        rows = [r for r in rows if _has_address(addresses.get(r["id"], {}), wanted)]
    return rows


def _has_address(addresses: dict[str, Any], prefix: str) -> bool:
    return any(a["addr"].startswith(prefix) for entries in addresses.values() for a in entries)


def _ref_id(ref: str | None) -> str | None:
    """An image or flavor filter: an id, or a link ending in one (as Nova takes)."""
    return None if ref is None else ref.rstrip("/").rsplit("/", 1)[-1]


def _changes_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid changes-since value: {value[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() not in ("true", "false", "1", "0"):
        raise BadRequest(f"Invalid deleted value: {value[:20]!r}; use true or false")
    return value.lower() in ("true", "1")


async def _marker(request: Request, actor: Actor, value: str) -> UUID:
    """A page marker must name a server the caller can see, as in Nova."""
    try:
        await visible_server(request, actor, value)
    except NotFound:
        raise BadRequest(f"marker [{value}] not found") from None
    return UUID(value)


async def index(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:servers:index")
    rows = await _listing(request, actor)
    servers = [
        {"id": r["id"], "name": r["name"], "links": _links(request, "servers", r["id"])}
        for r in rows
    ]
    return JSONResponse({"servers": servers})


async def detail(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:servers:index")
    rows = await _listing(request, actor)
    addresses = await addresses_of(request, rows)
    volumes = await volumes_attached(request, [r["id"] for r in rows])
    groups = await security_groups_of(request, rows)
    servers = [render(request, r, actor, addresses.get(r["id"]), volumes, groups) for r in rows]
    return JSONResponse({"servers": servers})


async def visible_server(request: Request, actor: Actor, server_id: str) -> DictRow:
    row = await state(request).reads.one(server_by_id(_uuid(server_id)))
    if row is None or not (actor.is_admin or row["project_id"] == actor.project_id):
        raise NotFound(f"Instance {server_id} could not be found.")
    return row


async def show(request: Request) -> JSONResponse:
    actor = authorize(request, "compute:servers:show")
    row = await visible_server(request, actor, request.path_params["id"])
    addresses = await addresses_of(request, [row])
    volumes = await volumes_attached(request, [row["id"]])
    groups = await security_groups_of(request, [row])
    shown = render(request, row, actor, addresses.get(row["id"]), volumes, groups)
    return JSONResponse({"server": shown})


class _ServerChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255, pattern=NO_CONTROL_CHARS)
    description: str | None = Field(default=None, max_length=255, pattern=NO_CONTROL_CHARS)
    accessIPv4: str | None = Field(default=None, max_length=64)
    accessIPv6: str | None = Field(default=None, max_length=64)


class UpdateServerBody(BaseModel):
    server: _ServerChange


@accepts(UpdateServerBody)
async def update(request: Request) -> JSONResponse:
    """Rename or describe a server (``PUT /servers/{id}``, ``server set --name``)."""
    actor = authorize(request, "compute:servers:update")
    change = (await parse_body(request, UpdateServerBody)).server
    server_id = request.path_params["id"]
    svc = state(request).services
    access = (change.accessIPv4, change.accessIPv6)
    receipt = await run_in_threadpool(
        svc.update_server, server_id, change.name, change.description, actor, access
    )
    await read_your_writes(request, receipt)
    row = await visible_server(request, actor, server_id)
    addresses = await addresses_of(request, [row])
    volumes = await volumes_attached(request, [row["id"]])
    shown = server_microversions.shown(
        render(request, row, actor, addresses.get(row["id"]), volumes),
        microversion.requested(request),
        basic=True,
    )
    return JSONResponse({"server": shown})


async def delete(request: Request) -> Response:
    actor = authorize(request, "compute:servers:delete")
    receipt = await act(request, "delete", actor)
    await read_your_writes(request, receipt)
    return Response(status_code=204)


async def act(request: Request, verb: str, actor: Actor) -> Receipt:
    """Run with the project's other actions waiting now, in one save."""
    act = (verb, request.path_params["id"], actor)
    return await state(request).actions.run(actor.project_id, act)


routes = [
    Route("/compute/v2.1/servers", create, methods=["POST"]),
    Route("/compute/v2.1/servers", index, methods=["GET"]),
    Route("/compute/v2.1/servers/detail", detail, methods=["GET"]),
    Route("/compute/v2.1/servers/{id}", show, methods=["GET"]),
    Route("/compute/v2.1/servers/{id}", update, methods=["PUT"]),
    Route("/compute/v2.1/servers/{id}", delete, methods=["DELETE"]),
]
