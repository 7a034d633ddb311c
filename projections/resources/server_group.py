"""The server groups' read model."""

from __future__ import annotations

from projections.declarations import ProjectionResource
from projections.server_groups import ServerGroupsView

RESOURCE = ProjectionResource("server_group", (ServerGroupsView,))
