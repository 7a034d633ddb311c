"""Networking v2.0 (Neutron's API): networks, subnets and their pools,
ports, routers, floating IPs, security groups, quotas, and the metadata
service's answers to the proxies on the hosts (signed by the host, not
under a token).

Its policy rules, by Neutron's names under "network:": readers read,
members change their project's, and each admin-only attribute is a rule
of its own, as in Neutron's policy. What a project owns is decided by the
commands: another project's thing is 404, as if it did not exist."""

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
from api.declarations import ApiResource, CatalogEntry, Rule, Service
from api.neutron_errors import NeutronErrors
from api.policy import ADMIN, MEMBER, READER

# A new networking rule goes here, beside those of its kind.
POLICY: dict[str, str | Rule] = {
    "network:get_extension": READER,
    "network:create_network": MEMBER,
    "network:create_network:shared": ADMIN,
    "network:create_network:router:external": ADMIN,
    "network:create_network:provider": ADMIN,
    "network:get_network": READER,
    "network:get_network:provider": Rule(ADMIN, "shows provider:* attributes"),
    "network:update_network": MEMBER,
    "network:update_network:shared": ADMIN,
    "network:update_network:router:external": ADMIN,
    "network:delete_network": MEMBER,
    "network:create_subnet": MEMBER,
    "network:get_subnet": READER,
    "network:update_subnet": MEMBER,
    "network:delete_subnet": MEMBER,
    "network:create_subnetpool": MEMBER,
    "network:create_subnetpool:shared": ADMIN,
    "network:get_subnetpool": READER,
    "network:update_subnetpool": MEMBER,
    "network:delete_subnetpool": MEMBER,
    "network:create_port": MEMBER,
    "network:create_port:device_owner": Rule(
        ADMIN, "the network's and compute's own device owners"
    ),
    "network:create_port:binding": ADMIN,
    "network:get_port": READER,
    "network:get_port:binding": Rule(ADMIN, "shows binding:* attributes"),
    "network:update_port": MEMBER,
    "network:update_port:binding": ADMIN,
    "network:delete_port": MEMBER,
    "network:create_router": MEMBER,
    "network:create_router:external_gateway_info:enable_snat": ADMIN,
    "network:create_router:external_gateway_info:external_fixed_ips": ADMIN,
    "network:get_router": READER,
    "network:update_router": MEMBER,
    "network:update_router:external_gateway_info:enable_snat": ADMIN,
    "network:update_router:external_gateway_info:external_fixed_ips": ADMIN,
    "network:delete_router": MEMBER,
    "network:add_router_interface": MEMBER,
    "network:remove_router_interface": MEMBER,
    "network:create_floatingip": MEMBER,
    "network:create_floatingip:floating_ip_address": ADMIN,
    "network:get_floatingip": READER,
    "network:update_floatingip": MEMBER,
    "network:delete_floatingip": MEMBER,
    "network:create_security_group": MEMBER,
    "network:get_security_group": READER,
    "network:update_security_group": MEMBER,
    "network:delete_security_group": MEMBER,
    "network:create_security_group_rule": MEMBER,
    "network:get_security_group_rule": READER,
    "network:delete_security_group_rule": MEMBER,
    "network:get_quota": Rule(READER, "target: the project asked about"),
    "network:get_quota:other_project": ADMIN,
    "network:update_quota": ADMIN,
    "network:delete_quota": ADMIN,
}

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
    policy=POLICY,
    public=(
        "GET /networking",
        "GET /networking/",
        "GET /networking/v2.0",
        "GET /networking/v2.0/",
    ),
    service=Service(
        "/networking",
        "Networking v2.0",
        catalog=(CatalogEntry("network", "neutron", "/networking"),),
        errors=NeutronErrors(),
    ),
)
