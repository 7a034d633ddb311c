"""The quotas' read model (limits and usage)."""

from __future__ import annotations

from projections.declarations import ProjectionResource
from projections.quotas import QuotasView

RESOURCE = ProjectionResource("quota", (QuotasView,))
