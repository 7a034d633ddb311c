"""The services' version documents (microversions negotiated there)."""

from __future__ import annotations

from api import microversion
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "versions",
    [*microversion.routes],
)
