"""One mapping from errors to OpenStack-shaped HTTP responses; routes have no try."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import psycopg
from eventsourcing.persistence import DataError, InterfaceError, OperationalError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from api import registry
from api.admission import Overloaded
from api.error_shapes import NOVA, ErrorShape
from api.responses import JSONResponse
from domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InsufficientCapacity,
    InvalidInput,
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


# The status the API gives each kind of domain error (a service's error
# shape may answer some with another: api/error_shapes.py).
_STATUS: list[tuple[type[DomainError], int]] = [
    (BadRequest, 400),
    (InvalidInput, 400),
    (Unauthorized, 401),
    (QuotaExceeded, 403),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TooLarge, 413),
    (UnsupportedMediaType, 415),
    (InsufficientCapacity, 409),
    (ProjectionBehind, 503),
]
# Keystone's challenge, on every 401 as keystonemiddleware answers them.
_CHALLENGE = {"WWW-Authenticate": 'Keystone uri="/identity"'}


def shape_of(request: Request) -> ErrorShape:
    """The error shape of the service the request's path is under (Nova's
    for paths of no service: /metrics, /openapi.json, unknown ones)."""
    service = registry.tables().service_for(request.url.path)
    return service.errors if service is not None else NOVA


def error_response(
    request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An error in the shape of the request's service."""
    return JSONResponse(
        shape_of(request).body(status, message), status, headers=dict(headers or {})
    )


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if isinstance(exc, Overloaded):  # Nova's overLimit body, with when to come back
        return JSONResponse(
            {"overLimit": {"code": 429, "message": exc.message, "retryAfter": "1"}},
            429,
            headers={"Retry-After": "1"},
        )
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            shown, body = shape_of(request).answer(exc, status)
            return JSONResponse(body, shown, headers=_CHALLENGE if shown == 401 else None)
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
