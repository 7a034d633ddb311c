"""A keypair on the domain side."""

from __future__ import annotations

from domain.declarations import AuditType, DomainResource
from domain.keypair import Keypair

RESOURCE = DomainResource(
    "keypair",
    aggregates=(Keypair,),
    audit=(
        AuditType("keypair", "compute/keypair", aggregates=("Keypair",), paths=("os-keypairs",)),
    ),
)
