"""The image list's query string, as Glance reads it: filters (any key it
does not know filters on a property, as ``image list --property k=v``
sends), ``sort_key``/``sort_dir`` or ``sort``, ``limit`` and ``marker``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.datastructures import QueryParams
from starlette.requests import Request

from api.errors import BadRequest
from domain.errors import NotFound
from domain.values import Actor, require_text
from projections.image_listing import (
    EXACT,
    MEMBER_STATUS_FILTERS,
    OPERATORS,
    SORT_KEYS,
    VISIBILITY_FILTERS,
    ImageListing,
)

MAX_LIMIT = 1000
PAGING = {"limit", "marker", "sort_key", "sort_dir", "sort"}
KNOWN = {
    *PAGING,
    *EXACT,
    "visibility",
    "member_status",
    "tag",
    "size",
    "size_min",
    "size_max",
    "created_at",
    "updated_at",
    "protected",
    "os_hidden",
}


def _int(params: QueryParams, key: str, default: int | None = None) -> int | None:
    raw = params.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{key} param must be an integer") from None
    if value < 0:
        raise BadRequest(f"{key} param must be positive")
    return min(value, 2**63 - 1)


def _any_of(key: str, raw: str) -> list[Any]:
    """``in:a,b`` (what ``server list`` asks for its images' names) or one value."""
    values = raw[3:].split(",") if raw.startswith("in:") else [raw]
    if key != "id":
        return values
    try:
        return [UUID(v) for v in values]
    except ValueError:
        raise BadRequest(f"Invalid id filter: {raw!r}") from None


def _size_bound(params: QueryParams, key: str, tighter: Callable[[int, int], int]) -> int | None:
    """``size_min`` or ``size_max``, narrowed by Glance's exact ``size`` filter."""
    bound, exact = _int(params, key), _int(params, "size")
    if exact is None:
        return bound
    return exact if bound is None else tighter(bound, exact)


def _bool(params: QueryParams, key: str) -> bool | None:
    raw = params.get(key)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise BadRequest(f"Invalid value for {key}: {raw!r}; expected true or false")
    return raw.lower() == "true"


def _time(column: str, raw: str) -> tuple[str, str, datetime]:
    """``gte:2024-01-01T00:00:00Z`` (no operator means eq)."""
    op, _, when = raw.partition(":") if raw.split(":", 1)[0] in OPERATORS else ("eq", "", raw)
    try:
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid {column} value {raw!r}: expected [op:]ISO 8601 time") from None
    if moment.tzinfo is None:
        raise BadRequest(f"Invalid {column} value {raw!r}: the time needs a zone (Z)")
    return column, op, moment


def _sort(params: QueryParams) -> list[tuple[str, str]]:
    keys, dirs = params.getlist("sort_key"), params.getlist("sort_dir")
    if "sort" in params:
        if keys or dirs:
            raise BadRequest("The 'sort' parameter cannot be combined with sort_key or sort_dir")
        pairs = [p.strip().partition(":") for p in params["sort"].split(",") if p.strip()]
        sort = [(k.strip(), (d.strip() or "asc")) for k, _, d in pairs]
    else:
        if dirs and len(dirs) not in (1, len(keys or ["created_at"])):
            raise BadRequest("The number of sort_dir values must be 1 or match sort_key's")
        keys = keys or ["created_at"]
        dirs = dirs * len(keys) if len(dirs) == 1 else dirs or ["desc"] * len(keys)
        sort = list(zip(keys, dirs, strict=True))
    for key, direction in sort:
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. It is not supported.")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}")
    return sort or [("created_at", "desc")]


def listing(
    params: QueryParams, actor: Actor, readable: Callable[[str], bool] = lambda _: True
) -> ImageListing:
    """400 for anything Glance would refuse; the rest becomes the query. A
    filter on a property the caller may not read (property protections)
    finds no image, whatever its value: the caller sees that property on
    none, and the list must not tell it the value by matching."""
    for key, value in params.multi_items():
        require_text(key, "Filter name", allow_empty=True)
        require_text(value, f"Filter {key}", max_length=65535, allow_empty=True)
    properties = {k: v for k, v in params.items() if k not in KNOWN}
    exact = {k: _any_of(k, params[k]) for k in EXACT if k in params}
    if not all(readable(key) for key in properties):
        exact["id"] = []  # any of no ids: none
    visibility = params.get("visibility")
    if visibility is not None and visibility not in VISIBILITY_FILTERS:
        raise BadRequest(f"Invalid visibility value: {visibility}")
    member_status = params.get("member_status", "accepted")
    if member_status not in MEMBER_STATUS_FILTERS:
        raise BadRequest(f"Invalid status value: {member_status}")
    marker = params.get("marker")
    try:
        marker_id = UUID(marker) if marker is not None else None
    except ValueError:
        raise BadRequest(f"Invalid marker. Image {marker} could not be found.") from None
    return ImageListing(
        project_id=actor.project_id,
        is_admin=actor.is_admin,
        limit=min(_int(params, "limit", MAX_LIMIT) or 0, MAX_LIMIT),
        exact=exact,
        visibility=visibility,
        member_status=member_status,
        tags=params.getlist("tag"),
        size_min=_size_bound(params, "size_min", max),
        size_max=_size_bound(params, "size_max", min),
        times=[_time(c, v) for c in ("created_at", "updated_at") for v in params.getlist(c)],
        properties=properties,
        protected=_bool(params, "protected"),
        os_hidden=bool(_bool(params, "os_hidden")),
        sort=_sort(params),
        marker=marker_id,
    )


async def check_marker(
    request: Request,
    actor: Actor,
    marker: UUID,
    visible: Callable[[Request, Actor, str], Awaitable[Any]],
) -> None:
    """A marker the caller cannot see is Glance's 400."""
    try:
        await visible(request, actor, str(marker))
    except NotFound:
        raise BadRequest(f"Invalid marker. Image {marker} could not be found.") from None


def next_link(params: QueryParams, last_id: str) -> str:
    kept = [(k, v) for k, v in params.multi_items() if k != "marker"]
    return "/v2/images?" + urlencode([*kept, ("marker", last_id)])
