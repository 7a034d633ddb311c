"""Block storage's error shape: Nova's body under Cinder's names, and, as
Cinder answers them, a quota refusal is 413 and a volume or snapshot in
the wrong status 400 (declared on its service, api/resources/volume.py)."""

from __future__ import annotations

from types import MappingProxyType

from api.error_shapes import ErrorShape
from domain.errors import InvalidTransition, QuotaExceeded

CINDER_NAMES = MappingProxyType(
    {
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
)

CINDER = ErrorShape(CINDER_NAMES, statuses=[(QuotaExceeded, 413), (InvalidTransition, 400)])
