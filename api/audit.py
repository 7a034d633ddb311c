"""``GET /audit`` (admins): the ledger's events and the rejected requests as
CADF, with the CLI's filters and ``limit``/``marker`` paging; and the error
path's record of each refusal (policy denial, quota), which changes no state
and so is kept beside the ledger, not in it (commands/rejections.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from eventsourcing.persistence import PersistenceError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.context import authenticate, authorize, base_url, request_id, state
from api.errors import BadRequest
from api.policy import PolicyDenied
from api.responses import JSONResponse
from commands.rejections import Rejection
from domain.errors import DomainError, QuotaExceeded, Unauthorized
from projections.audit import AuditFilter, AuditReader
from projections.audit_trail import AuditTrail, Marker
from projections.bootstrap import postgres_recorder

log = logging.getLogger(__name__)

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
_LOGIN = "cloudledger.audit.login"  # scope key: who a login said it was
FILTERS = ("project", "user", "resource_id", "type", "action", "since", "until")


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


async def list_audit(request: Request) -> JSONResponse:
    """The audit trail: events and rejected requests, oldest first, as CADF."""
    authorize(request, "audit:list")
    params = request.query_params
    query = AuditFilter.parse(
        project=params.get("project"),
        user=params.get("user"),
        resource=params.get("resource_id"),
        resource_type=params.get("type"),
        action=params.get("action"),
        since=params.get("since"),
        until=params.get("until"),
    )
    limit, marker = _limit(params.get("limit")), Marker.parse(params.get("marker"))
    app = state(request).services.app
    trail = AuditTrail(AuditReader(postgres_recorder(app), app.mapper.to_domain_event))
    records, following = await run_in_threadpool(trail.page, query, limit, marker)
    body: dict[str, Any] = {"events": records}
    if following is not None:
        kept = {name: params[name] for name in FILTERS if name in params}
        query_string = urlencode({**kept, "limit": limit, "marker": str(following)})
        body["links"] = [{"rel": "next", "href": f"{base_url(request)}/audit?{query_string}"}]
    return JSONResponse(body)


list_audit.query_parameters = (*FILTERS, "limit", "marker")  # type: ignore[attr-defined]


def note_login(request: Request, user: str, project: str) -> None:
    """Who a login names (never its password), should it fail."""
    request.scope[_LOGIN] = (user, project)


Handler = Callable[[Request, Exception], Awaitable[Response]]


def audited(handler: Handler) -> Handler:
    """The domain-error handler, recording policy denials and quota refusals first."""

    async def handle(request: Request, exc: Exception) -> Response:
        if isinstance(exc, PolicyDenied | QuotaExceeded):
            await _record(request, _refusal(request, exc))
        elif isinstance(exc, Unauthorized) and _LOGIN in request.scope:
            await _record(request, _failed_login(request, exc))
        return await handler(request, exc)

    return handle


def _failed_login(request: Request, exc: Unauthorized) -> Rejection:
    user, project = request.scope[_LOGIN]
    return Rejection(
        user, project, request_id(request), "identity:authenticate", request.url.path,
        "failure", exc.message, 401,
    )  # fmt: skip


def _refusal(request: Request, exc: PolicyDenied | QuotaExceeded) -> Rejection:
    if isinstance(exc, PolicyDenied):
        actor, action, outcome, status = exc.actor, exc.rule, "denied", 403
    else:
        try:
            actor = authenticate(request)
        except DomainError:  # cannot happen after a quota check; record it anyway
            actor = None
        action, outcome, status = f"quota:{exc.resource}", "failure", 403
    return Rejection(
        user_id=actor.user_id if actor else "unknown",
        project_id=actor.project_id if actor else "",
        request_id=request_id(request),
        action=action,
        target=request.url.path,  # the path only: no query string, no body, no token
        outcome=outcome,
        reason=exc.message,
        status=status,
    )


async def _record(request: Request, rejection: Rejection) -> None:
    try:
        await run_in_threadpool(state(request).rejections.record, rejection)
    except PersistenceError as error:  # the refusal still answers 403, not 500
        log.warning("could not record rejection of request %s: %s", rejection.request_id, error)


routes = [Route("/audit", list_audit, methods=["GET"])]
