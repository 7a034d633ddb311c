"""The Instance's read models: the servers list, each server's actions, and
its usage (os-simple-tenant-usage)."""

from __future__ import annotations

from projections.declarations import ProjectionResource
from projections.instance_actions import InstanceActionsView
from projections.servers import ServersView
from projections.usage import UsageView

RESOURCE = ProjectionResource("instance", (ServersView, InstanceActionsView, UsageView))
