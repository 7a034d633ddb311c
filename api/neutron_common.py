"""What every Networking v2.0 route shares: the list parameters Neutron
takes (filters on any attribute, repeated; ``fields``; ``sort_key`` /
``sort_dir``; ``limit``, ``marker``, ``page_reverse`` and the links that
page on), who sees admin-only attributes, and running commands off the
event loop with read-your-writes."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api.context import base_url, read_your_writes, state
from api.errors import BadRequest
from api.responses import JSONResponse
from commands.network_batch import NeutronForbidden, NeutronNotFound
from commands.network_services import Made, NetworkCommands
from domain.values import Actor
from projections.network_docs import Listing
from projections.reader import Query

PREFIX = "/networking/v2.0"
MAX_LIMIT = 10000
T = TypeVar("T")

# Attributes whose filter values are not text.
BOOLEANS = frozenset(
    {"admin_state_up", "shared", "router:external", "enable_dhcp", "port_security_enabled"}
)
INTEGERS = frozenset(
    {
        "mtu",
        "ip_version",
        "provider:segmentation_id",
        "port_range_min",
        "port_range_max",
        "revision_number",
    }
)
# Shown (and filtered on) only for those the policy lets see them.
ADMIN_ONLY = {
    "networks": ("provider:network_type", "provider:physical_network", "provider:segmentation_id"),
    "ports": (
        "binding:host_id",
        "binding:vif_type",
        "binding:vif_details",
        "binding:vnic_type",
        "binding:profile",
    ),
}
_ADMIN_RULES = {"networks": "network:get_network:provider", "ports": "network:get_port:binding"}
_NOT_FILTERS = frozenset({"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"})


def commands(request: Request) -> NetworkCommands:
    return state(request).network.commands


async def run(request: Request, call: Callable[[], Made]) -> Made:
    """A command in a worker thread; answered once the read models show it."""
    made = await run_in_threadpool(call)
    await read_your_writes(request, made.receipt)
    return made


async def wait_for(request: Request, made: Made) -> Made:
    await read_your_writes(request, made.receipt)
    return made


def sees_everything(actor: Actor) -> bool:
    """Admins list every project's resources, as in Neutron."""
    return actor.is_admin


def project_scope(actor: Actor) -> str | None:
    return None if sees_everything(actor) else actor.project_id


def hidden(request: Request, collection: str, actor: Actor) -> tuple[str, ...]:
    """The admin-only attributes this caller may not see."""
    rule = _ADMIN_RULES.get(collection)
    if rule is None or state(request).policy.allowed(actor, rule):
        return ()
    return ADMIN_ONLY[collection]


def listing(request: Request, collection: str, actor: Actor, sortable: Sequence[str]) -> Listing:
    """Neutron's list parameters, checked (400 for a bad one)."""
    params = request.query_params
    secret = hidden(request, collection, actor)
    filters: dict[str, list[Any]] = {}
    for key in dict.fromkeys(params.keys()):
        if key in _NOT_FILTERS or key in secret or len(key) > 64:
            continue
        filters[key] = [_filter_value(key, v) for v in params.getlist(key)]
    sort = _sort(params.getlist("sort_key"), params.getlist("sort_dir"), sortable, secret)
    limit = _limit(params.get("limit"))
    marker = None
    if params.get("marker"):
        try:
            marker = UUID(params["marker"])
        except ValueError:
            raise BadRequest(f"Invalid marker {params['marker'][:40]!r}") from None
    reverse = params.get("page_reverse", "false").lower() in ("true", "1")
    return Listing(filters, sort, limit, marker, reverse)


def _filter_value(key: str, value: str) -> Any:
    if key == "fixed_ips":  # fixed_ips=ip_address=10.0.0.5, or subnet_id=...
        name, _, wanted = value.partition("=")
        if name not in ("ip_address", "subnet_id"):
            raise BadRequest(f"Invalid fixed_ips filter {value[:60]!r}")
        return {name: wanted}
    if key in BOOLEANS:
        lowered = value.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise BadRequest(f"Invalid input for {key}: '{value[:20]}' is not a boolean")
        return lowered in ("true", "1")
    if key in INTEGERS:
        try:
            return int(value)
        except ValueError:
            raise BadRequest(f"Invalid input for {key}: '{value[:20]}' is not an integer") from None
    return value


def _sort(
    keys: list[str], dirs: list[str], sortable: Sequence[str], secret: Sequence[str]
) -> list[tuple[str, bool]]:
    if not keys:
        return []
    if dirs and len(dirs) != len(keys):
        raise BadRequest("The number of sort_keys and sort_dirs must be the same")
    chosen = []
    for n, key in enumerate(keys):
        if key not in sortable or key in secret:
            raise BadRequest(f"{key[:40]} is an invalid attribute for sort_key")
        direction = dirs[n].lower() if dirs else "asc"
        if direction not in ("asc", "desc"):
            raise BadRequest(f"{direction[:10]} is an invalid value for sort_dir")
        chosen.append((key, direction == "asc"))
    return chosen


def _limit(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        limit = int(value)
    except ValueError:
        raise BadRequest(
            f"Bad limit request: Limit must be an integer, not '{value[:20]}'."
        ) from None
    if limit < 0:
        raise BadRequest(
            f"Bad limit request: Limit must be an integer 0 or greater and not '{limit}'."
        )
    return None if limit == 0 else min(limit, MAX_LIMIT)


def shown(doc: Mapping[str, Any], secret: Sequence[str], fields: Sequence[str]) -> dict[str, Any]:
    """A document as this caller sees it: no hidden attribute, only the
    fields asked for (all when none)."""
    visible = {k: v for k, v in doc.items() if k not in secret}
    if fields:
        return {k: v for k, v in visible.items() if k in fields}
    return visible


def fields_of(request: Request) -> list[str]:
    return [f for f in request.query_params.getlist("fields") if f]


async def list_answer(
    request: Request,
    collection: str,
    actor: Actor,
    query_for: Callable[[Listing], Query],
    sortable: Sequence[str],
) -> JSONResponse:
    """A collection page: the caller's rows, fields, and next/previous links."""
    asked = listing(request, collection, actor, sortable)
    fetch = asked
    if asked.limit is not None:  # one more, to know whether a next page exists
        fetch = Listing(
            asked.filters, asked.sort, asked.limit + 1, asked.marker, asked.page_reverse
        )
    rows = await state(request).reads.all(query_for(fetch))
    docs = [row["doc"] for row in rows]
    more = asked.limit is not None and len(docs) > asked.limit
    docs = docs[: asked.limit] if asked.limit is not None else docs
    if asked.page_reverse:
        docs.reverse()
    secret = hidden(request, collection, actor)
    fields = fields_of(request)
    body: dict[str, Any] = {collection: [shown(d, secret, fields) for d in docs]}
    links = _links(request, collection, asked, docs, more)
    if links:
        body[f"{collection}_links"] = links
    return JSONResponse(body)


def _links(
    request: Request, collection: str, asked: Listing, docs: list[dict[str, Any]], more: bool
) -> list[dict[str, str]]:
    if asked.limit is None or not docs:
        return []
    path = f"{base_url(request)}{request.url.path}"
    kept = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("marker", "page_reverse")
    ]
    links = []
    forward_more = more if not asked.page_reverse else asked.marker is not None
    backward_more = asked.marker is not None if not asked.page_reverse else more
    if forward_more:
        query = urllib.parse.urlencode([*kept, ("marker", docs[-1]["id"])])
        links.append({"rel": "next", "href": f"{path}?{query}"})
    if backward_more:
        query = urllib.parse.urlencode([*kept, ("marker", docs[0]["id"]), ("page_reverse", "True")])
        links.append({"rel": "previous", "href": f"{path}?{query}"})
    return links


async def one_answer(
    request: Request,
    key: str,
    collection: str,
    actor: Actor,
    query: Query,
    kind: type,
    ident: object,
    status: int = 200,
) -> JSONResponse:
    """One resource as the caller sees it, or the kind's 404."""
    row = await state(request).reads.one(query)
    if row is None:
        raise NeutronNotFound(kind, ident)
    secret = hidden(request, collection, actor)
    return JSONResponse({key: shown(row["doc"], secret, fields_of(request))}, status)


def path_id(request: Request, kind: type, name: str = "id") -> UUID:
    """An id from the path: a malformed one names nothing (404)."""
    value = request.path_params[name]
    try:
        return UUID(value)
    except ValueError:
        raise NeutronNotFound(kind, value[:64]) from None


async def shown_made(
    request: Request,
    made: Made,
    key: str,
    collection: str,
    actor: Actor,
    query_for: Callable[[UUID], Query],
    kind: type,
    status: int = 200,
) -> JSONResponse:
    """What a write answers: the resource as it now reads (admins see theirs
    whatever their project)."""
    await wait_for(request, made)
    return await one_answer(
        request, key, collection, actor, query_for(made.id), kind, made.id, status
    )


async def many_made(
    request: Request, ids: Sequence[UUID], collection: str, actor: Actor,
    query_for: Callable[[UUID], Query],
) -> list[dict[str, Any]]:  # fmt: skip
    secret = hidden(request, collection, actor)
    docs = []
    for ident in ids:
        row = await state(request).reads.one(query_for(ident))
        if row is not None:
            docs.append(shown(row["doc"], secret, ()))
    return docs


def require_own_project(body_project: str | None, actor: Actor) -> str:
    """The project a resource is made for: the caller's, or (an admin) another."""
    if body_project and body_project != actor.project_id and not actor.is_admin:
        raise NeutronForbidden(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in"
            " request requires admin privileges"
        )
    return body_project or actor.project_id


def project_of(body: Any) -> str | None:
    project = getattr(body, "project_id", None) or getattr(body, "tenant_id", None)
    return str(project) if project else None


Answer = Callable[[Request], Awaitable[JSONResponse]]
