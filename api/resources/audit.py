"""The audit trail."""

from __future__ import annotations

from api import audit
from api.declarations import ApiResource, Rule
from api.policy import ADMIN

RESOURCE = ApiResource(
    "audit",
    [*audit.routes],
    policy={"audit:list": Rule(ADMIN, "the audit trail, which spans every project")},
)
