"""A flavor on the domain side."""

from __future__ import annotations

from domain.declarations import AuditType, DomainResource
from domain.flavor import Flavor

RESOURCE = DomainResource(
    "flavor",
    aggregates=(Flavor,),
    audit=(AuditType("flavor", "compute/flavor", aggregates=("Flavor",), paths=("flavors",)),),
)
