"""Compute's quota sets and limits."""

from __future__ import annotations

from api import quotas
from api.declarations import ApiResource, Rule
from api.policy import ADMIN, READER

RESOURCE = ApiResource(
    "quota",
    [*quotas.routes],
    policy={
        "compute:quotas:show": READER,
        "compute:quotas:show:other_project": ADMIN,
        "compute:quotas:update": ADMIN,
        "compute:quotas:defaults": Rule(READER, "the defaults, the same for every project"),
        "compute:quotas:delete": Rule(ADMIN, "a project's quota back to the defaults"),
        "compute:limits": READER,
    },
)
