"""Networking's read models: networks with their subnets and pools, ports,
routers with floating IPs, security groups with their rules."""

from __future__ import annotations

from projections.declarations import ProjectionResource
from projections.network_networks import NetworksView
from projections.network_ports import PortsView
from projections.network_routers import RoutersView
from projections.network_security import SecurityGroupsView

RESOURCE = ProjectionResource("network", (NetworksView, PortsView, RoutersView, SecurityGroupsView))
