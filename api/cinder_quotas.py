"""Block storage's quotas and limits as Cinder serves them: os-quota-sets
(show, usage, defaults, update, delete) and /limits. The limits live in the
project's one Quota aggregate with compute's (api/quotas.py shows those)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from api.context import accepts, parse_body, read_your_writes, state
from api.errors import BadRequest
from api.responses import JSONResponse
from api.volume_types import all_types
from api.volumes import V3, cinder_actor
from domain.errors import NotFound
from domain.quota import default_limit
from domain.values import INT32_MAX, Actor
from projections.quotas import quota_rows, usage_by_resource

# Cinder's quota keys besides the per-type ones, in its order.
RESOURCES = (
    "volumes",
    "snapshots",
    "gigabytes",
    "backups",
    "backup_gigabytes",
    "per_volume_gigabytes",
    "groups",
)
PER_TYPE = ("volumes", "snapshots", "gigabytes")


async def _keys(request: Request, actor: Actor) -> list[str]:
    types = [t["name"] for t in await all_types(request, actor)]
    return [*RESOURCES, *(f"{kind}_{name}" for name in types for kind in PER_TYPE)]


def _target(request: Request, actor: Actor) -> str:
    project_id: str = request.path_params["target"]
    if project_id != actor.project_id:
        state(request).policy.enforce(actor, "volume:quotas:show:other_project")
    return project_id


async def _usage(request: Request, project_id: str) -> dict[str, dict[str, int]]:
    usage = usage_by_resource(await state(request).reads.all(quota_rows(project_id)))
    if not usage:
        raise NotFound(f"Project {project_id} could not be found.")
    return usage


def _entry(usage: dict[str, dict[str, int]], key: str) -> dict[str, int]:
    """A key the project has no row for yet holds nothing, at its default limit."""
    return usage.get(key, {"limit": default_limit(key), "in_use": 0})


async def show(request: Request) -> JSONResponse:
    """``quota show`` (and with ?usage=true each key's limit and use)."""
    actor = cinder_actor(request, "volume:quotas:show")
    project_id = _target(request, actor)
    usage = await _usage(request, project_id)
    detailed = request.query_params.get("usage", "").lower() in ("true", "1", "yes")
    body: dict[str, Any] = {"id": project_id}
    for key in await _keys(request, actor):
        found = _entry(usage, key)
        if detailed:
            body[key] = {"limit": found["limit"], "in_use": found["in_use"], "reserved": 0}
        else:
            body[key] = found["limit"]
    return JSONResponse({"quota_set": body})


async def defaults(request: Request) -> JSONResponse:
    actor = cinder_actor(request, "volume:quotas:show")
    body: dict[str, Any] = {"id": request.path_params["target"]}
    body.update({key: default_limit(key) for key in await _keys(request, actor)})
    return JSONResponse({"quota_set": body})


class QuotaLimits(BaseModel):
    """Cinder's keys, and the per-type ones (checked against the types)."""

    model_config = ConfigDict(extra="allow")
    volumes: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    snapshots: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    gigabytes: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    backups: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    backup_gigabytes: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    per_volume_gigabytes: int | None = Field(default=None, ge=-1, le=INT32_MAX)
    groups: int | None = Field(default=None, ge=-1, le=INT32_MAX)


class UpdateQuotaBody(BaseModel):
    quota_set: QuotaLimits


async def _limits(request: Request, actor: Actor, given: QuotaLimits) -> dict[str, int]:
    known = set(await _keys(request, actor))
    limits: dict[str, int] = {}
    for key, value in given.model_dump(exclude_none=True).items():
        if key in ("tenant_id", "id", "skip_validation"):
            continue
        if key not in known:
            raise BadRequest(f"Bad key(s) in quota set: {key[:64]}")
        if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= INT32_MAX:
            raise BadRequest(
                f"Invalid input received: Quota limit for {key[:64]} must be an integer >= -1"
            )
        limits[key] = value
    return limits


@accepts(UpdateQuotaBody)
async def update(request: Request) -> JSONResponse:
    """``quota set --volumes 3 --gigabytes 10 PROJECT`` (admin)."""
    actor = cinder_actor(request, "volume:quotas:update")
    project_id = request.path_params["target"]
    limits = await _limits(request, actor, (await parse_body(request, UpdateQuotaBody)).quota_set)
    svc = state(request).services
    receipt = await run_in_threadpool(svc.update_quota, project_id, limits, actor)
    await read_your_writes(request, receipt)
    usage = await _usage(request, project_id)
    body = {key: _entry(usage, key)["limit"] for key in await _keys(request, actor)}
    return JSONResponse({"quota_set": body})


async def delete(request: Request) -> JSONResponse:
    """Back to the defaults (Cinder's quota delete)."""
    actor = cinder_actor(request, "volume:quotas:update")
    project_id = request.path_params["target"]
    limits = {key: default_limit(key) for key in await _keys(request, actor)}
    receipt = await run_in_threadpool(
        state(request).services.update_quota, project_id, limits, actor
    )
    await read_your_writes(request, receipt)
    return JSONResponse({}, 200)


async def limits(request: Request) -> JSONResponse:
    """``limits show --absolute``: Cinder's ten keys (backups never used here)."""
    actor = cinder_actor(request, "volume:limits")
    usage = await _usage(request, actor.project_id)

    def get(key: str, part: str) -> int:
        return _entry(usage, key)[part]

    absolute = {
        "maxTotalVolumes": get("volumes", "limit"),
        "maxTotalSnapshots": get("snapshots", "limit"),
        "maxTotalVolumeGigabytes": get("gigabytes", "limit"),
        "maxTotalBackups": get("backups", "limit"),
        "maxTotalBackupGigabytes": get("backup_gigabytes", "limit"),
        "totalVolumesUsed": get("volumes", "in_use"),
        "totalSnapshotsUsed": get("snapshots", "in_use"),
        "totalGigabytesUsed": get("gigabytes", "in_use"),
        "totalBackupsUsed": 0,
        "totalBackupGigabytesUsed": 0,
    }
    return JSONResponse({"limits": {"rate": [], "absolute": absolute}})


routes = [
    Route(f"{V3}/os-quota-sets/{{target}}", show, methods=["GET"]),
    Route(f"{V3}/os-quota-sets/{{target}}", update, methods=["PUT"]),
    Route(f"{V3}/os-quota-sets/{{target}}", delete, methods=["DELETE"]),
    Route(f"{V3}/os-quota-sets/{{target}}/defaults", defaults, methods=["GET"]),
    Route(f"{V3}/limits", limits, methods=["GET"]),
]
