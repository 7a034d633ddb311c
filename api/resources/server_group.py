"""Compute's server groups."""

from __future__ import annotations

from api import server_groups
from api.declarations import ApiResource
from api.policy import MEMBER, READER

RESOURCE = ApiResource(
    "server_group",
    [*server_groups.routes],
    policy={
        "compute:server_groups:index": READER,
        "compute:server_groups:show": READER,
        "compute:server_groups:create": MEMBER,
        "compute:server_groups:delete": MEMBER,
    },
)
