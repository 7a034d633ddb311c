"""Compute's host aggregates."""

from __future__ import annotations

from api import host_aggregates
from api.declarations import ApiResource
from api.policy import ADMIN

RESOURCE = ApiResource(
    "host_aggregate",
    [*host_aggregates.routes],
    policy={
        "compute:aggregates:index": ADMIN,
        "compute:aggregates:show": ADMIN,
        "compute:aggregates:create": ADMIN,
        "compute:aggregates:update": ADMIN,
        "compute:aggregates:delete": ADMIN,
        "compute:aggregates:add_host": ADMIN,
        "compute:aggregates:remove_host": ADMIN,
        "compute:aggregates:set_metadata": ADMIN,
    },
)
