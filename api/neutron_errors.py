"""Neutron's error shape for the Networking API's answers:
``{"NeutronError": {"type", "message", "detail"}}``, the type the name of
Neutron's exception (``NetworkNotFound``, ``IpAddressGenerationFailure``),
and Neutron's statuses where they differ from Nova's (a quota refusal is
409 OverQuota). The networking service declares it (api/resources/network.py)."""

from __future__ import annotations

from typing import Any

from api.error_shapes import ErrorShape
from domain.errors import DomainError, Forbidden, QuotaExceeded

_BY_STATUS = {
    400: "HTTPBadRequest",
    401: "HTTPUnauthorized",
    403: "HTTPForbidden",
    404: "HTTPNotFound",
    405: "HTTPMethodNotAllowed",
    406: "HTTPNotAcceptable",
    409: "HTTPConflict",
    413: "HTTPRequestEntityTooLarge",
    415: "HTTPUnsupportedMediaType",
    429: "HTTPTooManyRequests",
    500: "HTTPInternalServerError",
    503: "HTTPServiceUnavailable",
}


def neutron_body(status: int, message: str, neutron_type: str = "") -> dict[str, Any]:
    kind = neutron_type or _BY_STATUS.get(status, "NeutronException")
    return {"NeutronError": {"type": kind, "message": message, "detail": ""}}


def neutron_error(exc: DomainError, status: int) -> tuple[int, dict[str, Any]]:
    """The status and body Neutron answers a domain error with."""
    if isinstance(exc, QuotaExceeded):
        message = f"Quota exceeded for resources: ['{exc.resource}']."
        return 409, neutron_body(409, message, "OverQuota")
    kind = str(getattr(exc, "neutron_type", ""))
    if not kind and isinstance(exc, Forbidden) and hasattr(exc, "rule"):
        kind = "PolicyNotAuthorized"
    return status, neutron_body(status, exc.message, kind)


class NeutronErrors(ErrorShape):
    """Neutron's shape, for the networking service's declaration."""

    def body(self, status: int, message: str) -> dict[str, Any]:
        return neutron_body(status, message)

    def answer(self, exc: DomainError, status: int) -> tuple[int, dict[str, Any]]:
        return neutron_error(exc, status)
