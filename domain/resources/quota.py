"""A project's Quota on the domain side (its keys are each resource's own:
see their ``quota``)."""

from __future__ import annotations

from domain.declarations import AuditType, DomainResource
from domain.quota import Quota

RESOURCE = DomainResource(
    "quota",
    aggregates=(Quota,),
    audit=(AuditType("quota", "compute/quota", aggregates=("Quota",), paths=("os-quota-sets",)),),
    # Saved with the project's deletion, which the identity view shows.
    unwatched=(Quota.Closed,),
)
