"""One module per resource: its domain side (domain/declarations.py). The
lists derived from them are built on first use, not at import: aggregates'
own modules (quotas, meters) read them, and resource modules import those."""

from __future__ import annotations

import functools

from domain.declarations import AuditType, DomainResource, Metering
from domain.discovery import declarations


@functools.cache
def declared() -> tuple[DomainResource, ...]:
    return declarations("domain", DomainResource)


def quota_defaults() -> dict[str, int]:
    """Every quota key of every resource, with its default limit."""
    return {key: limit for r in declared() for key, limit in r.quota.items()}


def quota_of(name: str) -> dict[str, int]:
    """The quota keys the resource ``name`` declares, with their defaults."""
    return {key: limit for r in declared() if r.name == name for key, limit in r.quota.items()}


def meterings() -> tuple[Metering, ...]:
    return tuple(r.metering for r in declared() if r.metering is not None)


def audit_types() -> tuple[AuditType, ...]:
    return tuple(t for r in declared() for t in r.audit)
