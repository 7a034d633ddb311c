"""How a service's answers carry an error. Each service declares its shape
(api/declarations.py ``Service.errors``) and api/errors.py picks it by the
request's path prefix. Nova's is the default, and the base: a service
whose clients read Nova's shape under other names, or answer some errors
with another status (Cinder's 413 for a quota), declares it with its own
``names`` and ``statuses``; one with another shape altogether (Keystone's,
Neutron's: api/neutron_errors.py) overrides ``body`` and ``answer``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from domain.errors import DomainError

# Nova's key of each status (``{"itemNotFound": {"code": 404, ...}}``).
NOVA_NAMES: Mapping[int, str] = MappingProxyType(
    {
        400: "badRequest",
        401: "unauthorized",
        403: "forbidden",
        404: "itemNotFound",
        405: "HTTPMethodNotAllowed",
        406: "notAcceptable",
        409: "conflictingRequest",
        413: "requestEntityTooLarge",
        415: "unsupportedMediaType",
        416: "requestedRangeNotSatisfiable",
        429: "overLimit",
        500: "computeFault",
        503: "serviceUnavailable",
    }
)

# Keystone's title of each status (``{"error": {"code", "message", "title"}}``).
TITLES: Mapping[int, str] = MappingProxyType(
    {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        405: "Method Not Allowed",
        406: "Not Acceptable",
        409: "Conflict",
        413: "Request Entity Too Large",
        415: "Unsupported Media Type",
        416: "Requested Range Not Satisfiable",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }
)


class ErrorShape:
    """Nova's shape, under ``names`` (Nova's unless given; ``computeFault``
    for a status without one). ``statuses``: domain errors this service
    answers with another status than the API's usual one (api/errors.py),
    the first that matches."""

    def __init__(
        self,
        names: Mapping[int, str] = NOVA_NAMES,
        statuses: Sequence[tuple[type[DomainError], int]] = (),
    ) -> None:
        self.names, self.statuses = names, tuple(statuses)

    def body(self, status: int, message: str) -> dict[str, Any]:
        """The body of an error answered with ``status``."""
        return {self.names.get(status, "computeFault"): {"code": status, "message": message}}

    def answer(self, exc: DomainError, status: int) -> tuple[int, dict[str, Any]]:
        """The status and body a domain error is answered with, given the
        status the API gives that kind of error."""
        for kind, own in self.statuses:
            if isinstance(exc, kind):
                status = own
                break
        return status, self.body(status, exc.message)


class KeystoneErrors(ErrorShape):
    """Identity's: ``{"error": {"code", "message", "title"}}``."""

    def body(self, status: int, message: str) -> dict[str, Any]:
        title = TITLES.get(status, "Error")
        return {"error": {"code": status, "message": message, "title": title}}


NOVA = ErrorShape()
