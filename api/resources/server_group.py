"""Compute's server groups."""

from __future__ import annotations

from api import server_groups
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "server_group",
    [*server_groups.routes],
)
