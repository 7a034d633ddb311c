"""A compute host on the domain side: its capacity and claims (the
ComputeHost aggregate), named "host" by the audit trail."""

from __future__ import annotations

from domain.declarations import AuditType, DomainResource
from domain.host import ComputeHost

RESOURCE = DomainResource(
    "host",
    aggregates=(ComputeHost,),
    audit=(
        AuditType(
            "host",
            "compute/host",
            aggregates=("ComputeHost",),
            paths=("os-hypervisors", "os-services"),
        ),
    ),
)
