"""Unique names (NameClaim aggregates, domain/names.py): the holders' own
views show them, so no view follows a claim's events."""

from __future__ import annotations

from domain.declarations import AuditType, DomainResource
from domain.names import NameClaim

RESOURCE = DomainResource(
    "name_claim",
    aggregates=(NameClaim,),
    audit=(AuditType("name", "data/name", aggregates=("NameClaim",)),),
    unwatched=(NameClaim.Created, NameClaim.Taken, NameClaim.Released),
)
