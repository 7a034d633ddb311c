"""One mapping from errors to OpenStack-shaped HTTP responses; routes have no try."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg
from eventsourcing.persistence import DataError, InterfaceError, OperationalError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from api.admission import Overloaded
from api.neutron_errors import is_networking, neutron_body, neutron_error
from api.responses import JSONResponse
from domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InsufficientCapacity,
    InvalidInput,
    InvalidTransition,
    NotFound,
    QuotaExceeded,
    TooLarge,
    Unauthorized,
)

log = logging.getLogger(__name__)


class BadRequest(DomainError):
    """Malformed JSON or a body of the wrong shape."""


class UnsupportedMediaType(DomainError):
    """A body in a media type the route does not take."""


class ProjectionBehind(DomainError):
    """A write was recorded but a read model did not catch up in time."""


# (status, compute-style key, identity-style title)
_STATUS: list[tuple[type[DomainError], int, str, str]] = [
    (BadRequest, 400, "badRequest", "Bad Request"),
    (InvalidInput, 400, "badRequest", "Bad Request"),
    (Unauthorized, 401, "unauthorized", "Unauthorized"),
    (QuotaExceeded, 403, "forbidden", "Forbidden"),
    (Forbidden, 403, "forbidden", "Forbidden"),
    (NotFound, 404, "itemNotFound", "Not Found"),
    (Conflict, 409, "conflictingRequest", "Conflict"),
    (TooLarge, 413, "requestEntityTooLarge", "Request Entity Too Large"),
    (UnsupportedMediaType, 415, "unsupportedMediaType", "Unsupported Media Type"),
    (InsufficientCapacity, 409, "conflictingRequest", "Conflict"),
    (ProjectionBehind, 503, "serviceUnavailable", "Service Unavailable"),
]
_BY_HTTP_STATUS = {
    400: ("badRequest", "Bad Request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("itemNotFound", "Not Found"),
    405: ("HTTPMethodNotAllowed", "Method Not Allowed"),
    406: ("notAcceptable", "Not Acceptable"),
    409: ("conflictingRequest", "Conflict"),
    413: ("requestEntityTooLarge", "Request Entity Too Large"),
    415: ("unsupportedMediaType", "Unsupported Media Type"),
    416: ("requestedRangeNotSatisfiable", "Requested Range Not Satisfiable"),
    429: ("overLimit", "Too Many Requests"),
    500: ("computeFault", "Internal Server Error"),
    503: ("serviceUnavailable", "Service Unavailable"),
}


# Block storage answers with Cinder's names; as in Cinder, a quota refusal
# is 413 and a volume or snapshot in the wrong status 400.
_CINDER_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}
_CINDER_STATUS: list[tuple[type[DomainError], int]] = [
    (QuotaExceeded, 413),
    (InvalidTransition, 400),
]


def is_block_storage(request: Request) -> bool:
    return request.url.path.startswith("/volume")


def error_response(
    request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Identity answers Keystone's shape, block storage Cinder's, the others Nova's."""
    key, title = _BY_HTTP_STATUS.get(status, ("computeFault", "Error"))
    if is_block_storage(request):
        key = _CINDER_NAMES.get(status, "computeFault")
    body: dict[str, Any]
    if request.url.path.startswith("/identity"):
        body = {"error": {"code": status, "message": message, "title": title}}
    elif is_networking(request.url.path):
        body = neutron_body(status, message)
    else:
        body = {key: {"code": status, "message": message}}
    return JSONResponse(body, status, headers=dict(headers or {}))


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if isinstance(exc, Overloaded):  # Nova's overLimit body, with when to come back
        return JSONResponse(
            {"overLimit": {"code": 429, "message": exc.message, "retryAfter": "1"}},
            429,
            headers={"Retry-After": "1"},
        )
    for cinder_cls, status in _CINDER_STATUS if is_block_storage(request) else []:
        if isinstance(exc, cinder_cls):
            return error_response(request, status, exc.message)
    for cls, status, _, _ in _STATUS:
        if isinstance(exc, cls) and is_networking(request.url.path):
            shown, body = neutron_error(exc, status)
            return JSONResponse(body, shown)
        if isinstance(exc, cls):
            headers = {"WWW-Authenticate": 'Keystone uri="/identity"'} if status == 401 else None
            return error_response(request, status, exc.message, headers)
    return error_response(request, 400, exc.message)


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()
    )
    return error_response(request, 400, f"Invalid input for field/attribute: {problems}")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(request, exc.status_code, str(exc.detail), exc.headers)


async def data_error(request: Request, exc: Exception) -> Response:
    """A query parameter the database cannot take (a NUL byte, a negative LIMIT)."""
    assert isinstance(exc, DataError | psycopg.DataError)
    return error_response(request, 400, f"Invalid input: {exc}")


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """A timeout (statement, lock) or a lost connection: nothing was recorded
    unless the database committed before the connection broke, and the
    client may retry either way (commands are checked against current state)."""
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return error_response(
        request,
        503,
        "The ledger is busy or unreachable; the request was not completed. Try again.",
        {"Retry-After": "1"},
    )


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "An unexpected error occurred; it has been logged.")


EXCEPTION_HANDLERS = {
    DomainError: domain_error,
    ValidationError: validation_error,
    HTTPException: http_error,
    DataError: data_error,
    OperationalError: database_unavailable,
    InterfaceError: database_unavailable,
    # The same, from the API's own asyncio pool (projections/reader.py); a
    # pool timeout is an OperationalError too.
    psycopg.DataError: data_error,
    psycopg.OperationalError: database_unavailable,
    psycopg.InterfaceError: database_unavailable,
    Exception: unexpected_error,
}
