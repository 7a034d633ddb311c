"""Compute's hosts: hypervisors and services."""

from __future__ import annotations

from api import operators, services
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "host",
    [*operators.routes, *services.routes],
)
