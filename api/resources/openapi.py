"""The OpenAPI document of every route."""

from __future__ import annotations

from api import openapi
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "openapi",
    [*openapi.routes],
    public=("GET /openapi.json",),  # the API's own description
)
