"""Compute v2.1 as a service: its version documents (Nova's legacy v2 too),
its catalog entry and its microversions. Its resources (servers, flavors,
keypairs ...) declare their own routes and rules."""

from __future__ import annotations

from api import microversion
from api.declarations import ApiResource, CatalogEntry, Service

RESOURCE = ApiResource(
    "compute",
    [*microversion.routes],
    public=tuple(f"GET {route.path}" for route in microversion.routes),
    service=Service(
        "/compute",
        "Compute v2.1",
        catalog=(CatalogEntry("compute", "nova", "/compute/v2.1"),),
        microversions=microversion.COMPUTE,
    ),
)
