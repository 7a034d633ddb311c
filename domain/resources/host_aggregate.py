"""A host aggregate (and the availability zone it may name) on the domain side."""

from __future__ import annotations

from domain.declarations import AuditType, DomainResource
from domain.host_aggregate import HostAggregate

RESOURCE = DomainResource(
    "host_aggregate",
    aggregates=(HostAggregate,),
    audit=(
        AuditType(
            "aggregate",
            "compute/aggregate",
            aggregates=("HostAggregate",),
            paths=("os-aggregates",),
        ),
    ),
)
