"""The audit trail."""

from __future__ import annotations

from api import audit
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "audit",
    [*audit.routes],
)
