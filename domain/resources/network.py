"""Networking on the domain side: its aggregates, how the audit trail names
them, and its quota keys (Neutron's names and defaults)."""

from __future__ import annotations

from domain.declarations import AuditType, DomainResource
from domain.floating_ip import FloatingIP
from domain.network import Network, SegmentPool
from domain.network_host import NetworkHost
from domain.port import Port
from domain.router import Router
from domain.security_group import SecurityGroup
from domain.subnet import Subnet
from domain.subnet_pool import SubnetPool

RESOURCE = DomainResource(
    "network",
    aggregates=(
        Network,
        SegmentPool,
        Subnet,
        SubnetPool,
        Port,
        Router,
        FloatingIP,
        SecurityGroup,
        NetworkHost,
    ),
    audit=(
        AuditType("network", "network/network", ("Network", "SegmentPool"), ("networks",)),
        AuditType("subnet", "network/subnet", ("Subnet", "SubnetPool"), ("subnets", "subnetpools")),
        AuditType("port", "network/port", ("Port",), ("ports",)),
        AuditType("router", "network/router", ("Router",), ("routers",)),
        AuditType("floating_ip", "network/floatingip", ("FloatingIP",), ("floatingips",)),
        AuditType(
            "security_group",
            "network/security-group",
            ("SecurityGroup",),
            ("security-groups", "security-group-rules"),
        ),
        # A host's network worker: what its reconcile repaired (no API path).
        AuditType("network_host", "network/agent", ("NetworkHost",)),
    ),
    # No read model shows a host's repairs; the audit trail does.
    unwatched=(NetworkHost.Created, NetworkHost.Repaired),
    quota={
        "network": 100,
        "subnet": 100,
        "port": 500,
        "router": 10,
        "floatingip": 50,
        "security_group": 10,
        "security_group_rule": 100,
    },
)
