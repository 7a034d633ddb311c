"""Networking v2.0 (Neutron's API): networks, subnets and their pools,
ports, routers, floating IPs, security groups, quotas, and the metadata
service's answers to the proxies on the hosts."""

from __future__ import annotations

from api import (
    metadata,
    neutron_meta,
    neutron_networks,
    neutron_ports,
    neutron_quotas,
    neutron_routers,
    neutron_security,
    neutron_subnet_pools,
)
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "network",
    [
        *neutron_meta.routes,
        *neutron_networks.routes,
        *neutron_ports.routes,
        *neutron_routers.routes,
        *neutron_security.routes,
        *neutron_subnet_pools.routes,
        *neutron_quotas.routes,
        *metadata.routes,
    ],
)
