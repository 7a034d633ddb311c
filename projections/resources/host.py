"""The compute hosts' read model (what the scheduler ranks, os-hypervisors)."""

from __future__ import annotations

from projections.declarations import ProjectionResource
from projections.hosts import HostsView

RESOURCE = ProjectionResource("host", (HostsView,))
