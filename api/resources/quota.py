"""Compute's quota sets."""

from __future__ import annotations

from api import quotas
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "quota",
    [*quotas.routes],
)
