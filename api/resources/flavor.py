"""Compute's flavors and their extra specs and access."""

from __future__ import annotations

from api import flavor_extras, flavors
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "flavor",
    [*flavors.routes, *flavor_extras.routes],
)
