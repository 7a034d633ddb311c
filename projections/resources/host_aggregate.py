"""The host aggregates' read model."""

from __future__ import annotations

from projections.declarations import ProjectionResource
from projections.host_aggregates import HostAggregatesView

RESOURCE = ProjectionResource("host_aggregate", (HostAggregatesView,))
