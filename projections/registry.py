"""The list of read models, and which ones a write must wait for."""

from __future__ import annotations

from collections.abc import Iterable

from projections.flavors import FlavorsView
from projections.host_aggregates import HostAggregatesView
from projections.hosts import HostsView
from projections.identity import IdentityView
from projections.images import ImagesView
from projections.instance_actions import InstanceActionsView
from projections.keypairs import KeypairsView
from projections.network_networks import NetworksView
from projections.network_ports import PortsView
from projections.network_routers import RoutersView
from projections.network_security import SecurityGroupsView
from projections.quotas import QuotasView
from projections.revocations import RevocationsView
from projections.server_groups import ServerGroupsView
from projections.servers import ServersView
from projections.usage import UsageView
from projections.view import ProjectionView

VIEW_CLASSES: tuple[type[ProjectionView], ...] = (
    ServersView,
    QuotasView,
    FlavorsView,
    ImagesView,
    HostsView,
    IdentityView,
    RevocationsView,
    KeypairsView,
    InstanceActionsView,
    HostAggregatesView,
    UsageView,
    ServerGroupsView,
    NetworksView,
    PortsView,
    RoutersView,
    SecurityGroupsView,
)


def positions_to_wait_for(events: Iterable[tuple[int, str]]) -> dict[str, int]:
    """For each read model that handles any of these (id, topic) events, the
    highest notification id it must reach before a reader sees the write."""
    targets: dict[str, int] = {}
    for notification_id, topic in events:
        for view in VIEW_CLASSES:
            if topic in view.topics:
                targets[view.name] = max(targets.get(view.name, 0), notification_id)
    return targets
