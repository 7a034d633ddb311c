"""A server group on the domain side."""

from __future__ import annotations

from domain.declarations import AuditType, DomainResource
from domain.server_group import ServerGroup

RESOURCE = DomainResource(
    "server_group",
    aggregates=(ServerGroup,),
    audit=(
        AuditType(
            "server_group",
            "compute/server-group",
            aggregates=("ServerGroup",),
            paths=("os-server-groups",),
        ),
    ),
    # The scheduler's record of a member's host, which no request waits for.
    unwatched=(ServerGroup.Placed,),
)
