"""Networking on the worker side: a network queue per compute host
(``network.<host>``: taps, segments and security-group filters of the ports
bound there, served by that host's compute process: ``Role.joins``) and
one for the network node (``network_node``: DHCP with the metadata
proxies, routers with their NAT), what each event of a port, a router or a
security group owes them, and the compute hosts' steps that wait on a
port: a port hot-plugged into a running guest once it is plugged. (A
server's own ports are plugged by its host as it spawns:
workers/jobs/boot_ports.py.)

Most of this work leaves no record of its own (a filter refreshed, a lease
written): those routes name no completing event and are done once a batch
that carried them has run (workers/declarations.py)."""

from __future__ import annotations

from domain.instance import Instance
from domain.instance_ports import Interfacing
from domain.port import Port
from domain.router import Router
from domain.security_group import SecurityGroup
from domain.subnet import Subnet
from workers.declarations import Link, Placement, QueueFamily, Role, Route, Via, WorkerResource
from workers.resources.instance import COMPUTE

# Both kinds of network queue take their items at most once per 0.5 s: each
# job costs its worker a few ms of RQ's own CPU whatever it carries, and
# every boot and delete batch changes the default group's members, which
# owed each host a job of one item. Nothing here is waited on so closely:
# a guest asks for its lease seconds after it starts, and Neutron's own
# agents poll every 2 s. (A server's own ports are plugged by its spawn.)
NETWORK = QueueFamily("network", per_host=True, gather_s=0.5)
NETWORK_NODE = QueueFamily("network_node", gather_s=0.5)

_PORTS = "workers.jobs.network_ports"
_NODE = "workers.jobs.network_node"
_ENDED = (Instance.Failed, Instance.DeleteRequested, Instance.Deleted)

# A port waits on its security groups: a rule added or removed, or a
# member joining or leaving (the default group lets its own members in),
# refreshes its filter on the host it is bound to.
GROUPS = Link(
    "network.port_groups",
    (Port.Created, Port.SecurityChanged),
    "security_group_ids",
    (Port.SecurityChanged, Port.Deleted),
)
# A running server waits on a port attached to it: once the port's host
# has plugged it, the server's host hot-plugs it into the guest.
INTERFACES = Link(
    "network.server_ports",
    Interfacing.InterfaceAttached,
    "port_id",
    (Interfacing.InterfaceDetached, Instance.Deleted),
)


_PLUG, _UNPLUG, _REFILTER, _REFRESH_SETS = (
    f"{_PORTS}:{j}"
    for j in ("plug_ports", "unplug_ports", "refilter_ports", "refresh_address_sets")
)

PORT_ROUTES = (
    # Bound to a host (by os-interface, by an admin): plugged there. A server's
    # ports are bound and plugged by its host as it spawns, in the spawn's
    # save (workers/jobs/boot_ports.py): nothing is left to do then.
    Route(
        "network.plug",
        Port.Bound,
        NETWORK,
        (),
        _PLUG,
        host_field="host",
        cancelled_by=(Port.Plugged,),
    ),
    Route("network.unplug", Port.Unbound, NETWORK, (), _UNPLUG, host_field="host"),
    # The others on the host it is bound to (its placement).
    Route("network.unplug_deleted", Port.Deleted, NETWORK, (), _UNPLUG),
    Route("network.filter_addresses", Port.FixedIpsChanged, NETWORK, (), _REFILTER),
    Route("network.filter_security", Port.SecurityChanged, NETWORK, (), _REFILTER),
    Route(
        "network.filter_rule_added", Via(GROUPS, SecurityGroup.RuleAdded), NETWORK, (), _REFILTER
    ),
    Route(
        "network.filter_rule_removed",
        Via(GROUPS, SecurityGroup.RuleRemoved),
        NETWORK,
        (),
        _REFILTER,
    ),
    # A member joining or leaving changes the group's address set on each
    # host, not its members' rules.
    Route(
        "network.filter_members",
        Via(GROUPS, SecurityGroup.MembersChanged),
        NETWORK,
        (),
        _REFRESH_SETS,
        once_per_host=True,  # the job refills the host's sets, whoever waits there
    ),
)

# The network node: each port's lease (made with the port, changed with its
# addresses, dropped with it), a subnet's options, each router as a whole.
_LEASES = f"{_NODE}:sync_leases"
NODE_ROUTES = (
    Route("network.dhcp_port_created", Port.Created, NETWORK_NODE, (), _LEASES),
    Route("network.dhcp_port_readdressed", Port.FixedIpsChanged, NETWORK_NODE, (), _LEASES),
    Route("network.dhcp_port_deleted", Port.Deleted, NETWORK_NODE, (), _LEASES),
    Route("network.dhcp_subnet", Subnet.Updated, NETWORK_NODE, (), f"{_NODE}:sync_subnets"),
    *(
        Route(f"network.router_{name}", event, NETWORK_NODE, (), f"{_NODE}:sync_routers")
        for name, event in (
            ("gateway_set", Router.GatewaySet),
            ("gateway_cleared", Router.GatewayCleared),
            ("interface_added", Router.InterfaceAdded),
            ("interface_removed", Router.InterfaceRemoved),
            ("floating_ip_routed", Router.FloatingIpRouted),
            ("floating_ip_unrouted", Router.FloatingIpUnrouted),
            ("deleted", Router.Deleted),
        )
    ),
)

# The compute host's steps that wait on ports.
COMPUTE_ROUTES = (
    # Every port plugged: the spawn that waited for them goes ahead.
    Route(
        "network.boot_server",
        Interfacing.PortsPlugged,
        COMPUTE,
        (Instance.Spawned, *_ENDED),
        "workers.jobs.compute:spawn_instances",
    ),
    # A port attached to a server is in its guest once plugged; a detached one goes.
    Route(
        "network.hotplug",
        Via(INTERFACES, Port.Plugged),
        COMPUTE,
        (),
        "workers.jobs.network_compute:sync_interfaces",
    ),
    Route(
        "network.hotunplug",
        Interfacing.InterfaceDetached,
        COMPUTE,
        (),
        "workers.jobs.network_compute:sync_interfaces",
    ),
)

RESOURCE = WorkerResource(
    "network",
    families=(NETWORK, NETWORK_NODE),
    roles=(
        Role(NETWORK, "workers.roles.network:build_network_host", joins=COMPUTE),
        Role(NETWORK_NODE, "workers.roles.network:build_network_node"),
    ),
    routes=(*PORT_ROUTES, *NODE_ROUTES, *COMPUTE_ROUTES),
    # A port lives on the host it is bound to, until it is unbound or deleted
    # (a server's port is bound by its spawn, which plugs it in one event).
    placements=(
        Placement(Port.Bound, "host", (Port.Unbound, Port.Deleted)),
        Placement(Port.BoundAndPlugged, "host", (Port.Unbound, Port.Deleted)),
    ),
    links=(GROUPS, INTERFACES),
)
