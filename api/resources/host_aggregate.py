"""Compute's host aggregates (and availability zones)."""

from __future__ import annotations

from api import host_aggregates
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "host_aggregate",
    [*host_aggregates.routes],
)
