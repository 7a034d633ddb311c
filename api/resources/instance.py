"""Compute's servers: the servers, their actions, metadata, tags, instance actions and usage."""

from __future__ import annotations

from api import (
    instance_actions,
    server_actions,
    server_metadata,
    server_networks,
    server_tags,
    servers,
    usage,
)
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "instance",
    [
        *servers.routes,
        *server_actions.routes,
        *server_metadata.routes,
        *server_tags.routes,
        *server_networks.routes,
        *instance_actions.routes,
        *usage.routes,
    ],
)
