"""The Instance's read models: the servers list, each server's actions, its
usage (os-simple-tenant-usage), and its volumes."""

from __future__ import annotations

from projections.declarations import ProjectionResource
from projections.instance_actions import InstanceActionsView
from projections.server_volumes import ServerVolumesView
from projections.servers import ServersView
from projections.usage import UsageView

RESOURCE = ProjectionResource(
    "instance", (ServersView, InstanceActionsView, UsageView, ServerVolumesView)
)
