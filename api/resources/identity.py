"""Identity v3: tokens and the catalog, domains, projects, users and roles."""

from __future__ import annotations

from api import directory, identity, roles, users
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "identity",
    [*identity.routes, *directory.routes, *users.routes, *roles.routes],
)
