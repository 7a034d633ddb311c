"""Identity on the domain side: domains, projects, users and roles, as the
audit trail names them."""

from __future__ import annotations

from domain.declarations import AuditType, DomainResource
from domain.domains import Domain, Role
from domain.identity import Project, User

RESOURCE = DomainResource(
    "identity",
    aggregates=(Domain, Project, User, Role),
    audit=(
        AuditType("project", "identity/project", aggregates=("Project",), paths=("projects",)),
        AuditType("user", "identity/user", aggregates=("User",), paths=("users",)),
        AuditType("domain", "identity/domain", aggregates=("Domain",), paths=("domains",)),
        AuditType("role", "identity/role", aggregates=("Role",), paths=("roles",)),
    ),
)
