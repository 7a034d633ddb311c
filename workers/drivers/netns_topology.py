"""Hosts as network namespaces, for a stack run on one machine with the
real network driver (and for the tests that drive it): `cloudledger run`
makes the topology at start and removes it at stop, and each host's
workers find their namespace, underlay address and drivers here.

Each compute host is a namespace, and so is the network node (DHCP servers
and routers hang off it) and the "outside world" floating IPs are reached
from. An underlay namespace holds one bridge joining them all by a veth
each, with addresses that exist only inside these namespaces. Nothing here
touches the machine's own interfaces, routes or firewall. Every name starts
with the stack's prefix, so two stacks (two test runs) never collide.

    <prefix>-underlay   bridge "ul-bridge" <- veth -> each node's "underlay"
    <prefix>-h-<host>   a compute host: tenant bridges, taps, VXLAN
    <prefix>-network    the network node: tenant bridges, and "br-ext"
    <prefix>-external   "uplink" (the external network's gateway address)
    <prefix>-dhcp-<id>, <prefix>-router-<id>: made by the drivers
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import IPRoute

from workers.drivers.dnsmasq import LinuxDhcp, MetadataUpstream
from workers.drivers.linux_ports import LinuxPorts
from workers.drivers.netns import (
    delete_link,
    ensure_namespace,
    ipr,
    link_index,
    list_namespaces,
    namespace_pids,
    remove_namespace,
    set_sysctl,
    tolerate_exists,
)
from workers.drivers.network import NetworkDrivers
from workers.drivers.nft_firewall import NftFirewall
from workers.drivers.nft_router import LinuxRouters
from workers.drivers.processes import end_processes
from workers.drivers.runner import CommandRunner
from workers.drivers.segments import VlanDevices, VxlanDevices

UNDERLAY_DEVICE = "underlay"
EXTERNAL_BRIDGE = "br-ext"
EXTERNAL_PHYSNET = "external"
_UPLINK = "uplink"
_UNDERLAY_BRIDGE = "ul-bridge"


def stack_prefix(seed: str) -> str:
    """A short prefix for one stack's namespaces, derived from ``seed``
    (its state directory, or a test's own folder)."""
    return "cl" + hashlib.sha256(seed.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class NetnsTopology:
    """The namespaces of one stack and how they are joined."""

    prefix: str
    hosts: tuple[str, ...]
    underlay_cidr: str = "100.64.0.0/24"
    external_cidr: str = "198.51.100.0/24"
    # Room for a 1500-byte tenant MTU plus VXLAN's 50 bytes.
    underlay_mtu: int = 1600

    def host_namespace(self, host: str) -> str:
        if host not in self.hosts:
            raise KeyError(f"no host {host!r} in this topology")
        return f"{self.prefix}-h-{host}"

    @property
    def underlay_namespace(self) -> str:
        return f"{self.prefix}-underlay"

    @property
    def network_namespace(self) -> str:
        return f"{self.prefix}-network"

    @property
    def external_namespace(self) -> str:
        return f"{self.prefix}-external"

    def underlay_ip(self, host: str | None) -> str:
        """A compute host's underlay address (None: the network node's)."""
        net = ipaddress.ip_network(self.underlay_cidr)
        offset = 2 if host is None else 10 + self.hosts.index(host)
        return str(net.network_address + offset)

    @property
    def external_gateway(self) -> str:
        """The outside world's address on the external network."""
        return str(ipaddress.ip_network(self.external_cidr).network_address + 1)

    def vteps(self) -> frozenset[str]:
        """Every node's underlay address: where a VXLAN segment floods."""
        return frozenset(self.underlay_ip(h) for h in (None, *self.hosts))

    def vxlan(self, host: str | None) -> VxlanDevices:
        """VXLAN over the underlay, from a host (None: the network node)."""
        return VxlanDevices(self.underlay_ip(host), UNDERLAY_DEVICE)

    def drivers(
        self,
        host: str | None,
        runner: CommandRunner,
        state_dir: Path,
        metadata: MetadataUpstream | None = None,
    ) -> NetworkDrivers:
        """The real network drivers of a compute host (None: of the network
        node, which also serves DHCP, metadata and routers)."""
        namespace = self.network_namespace if host is None else self.host_namespace(host)
        flat = {EXTERNAL_PHYSNET: EXTERNAL_BRIDGE} if host is None else None
        ports = LinuxPorts(namespace, vxlan=self.vxlan(host), vlan=VlanDevices(), flat_bridges=flat)
        firewall = NftFirewall(namespace, runner)
        if host is not None:
            return NetworkDrivers(ports, firewall)
        prefix = self.prefix + "-"
        dhcp = LinuxDhcp(ports, runner, state_dir, prefix, metadata)
        return NetworkDrivers(ports, firewall, dhcp, LinuxRouters(ports, runner, prefix))

    def namespaces(self) -> list[str]:
        """Every namespace of this stack, the drivers' included."""
        return list_namespaces(self.prefix + "-")

    def ensure(self) -> None:
        """Make whatever is missing; converges when run again."""
        underlay = self.underlay_namespace
        ensure_namespace(underlay)
        with ipr(underlay) as ip:
            bridge = _ensure_bridge(ip, _UNDERLAY_BRIDGE, self.underlay_mtu)
        nodes: list[tuple[str, str | None]] = [(self.network_namespace, None)]
        nodes += [(self.host_namespace(h), h) for h in self.hosts]
        prefixlen = ipaddress.ip_network(self.underlay_cidr).prefixlen
        for position, (namespace, host) in enumerate(nodes):
            ensure_namespace(namespace)
            with ipr(underlay) as ip:
                _ensure_veth(ip, f"ul{position}", namespace, UNDERLAY_DEVICE, bridge)
            with ipr(namespace) as ip:
                _ensure_address(ip, UNDERLAY_DEVICE, self.underlay_ip(host), prefixlen)
                _set_up(ip, UNDERLAY_DEVICE, self.underlay_mtu)
            with ipr(underlay) as ip:
                _set_up(ip, f"ul{position}", self.underlay_mtu)
        self._ensure_external()

    def _ensure_external(self) -> None:
        ensure_namespace(self.external_namespace)
        with ipr(self.network_namespace) as ip:
            bridge = _ensure_bridge(ip, EXTERNAL_BRIDGE, 1500)
            _ensure_veth(ip, "ext-uplink", self.external_namespace, _UPLINK, bridge)
            _set_up(ip, "ext-uplink", 1500)
        set_sysctl(self.network_namespace, f"net/ipv6/conf/{EXTERNAL_BRIDGE}/disable_ipv6", "1")
        prefixlen = ipaddress.ip_network(self.external_cidr).prefixlen
        with ipr(self.external_namespace) as ip:
            _ensure_address(ip, _UPLINK, self.external_gateway, prefixlen)
            _set_up(ip, _UPLINK, 1500)

    def remove(self, grace_s: float = 2.0) -> None:
        """Remove every namespace of this stack. A process still running in
        one (a driver's server, a guest) was started for this stack: it is
        ended by its PID first, so the namespace really goes."""
        namespaces = self.namespaces()
        for namespace in namespaces:
            end_processes(namespace_pids(namespace), grace_s)
        for namespace in namespaces:
            remove_namespace(namespace)


def _ensure_bridge(ip: IPRoute, name: str, mtu: int) -> int:
    if link_index(ip, name) is None:
        tolerate_exists(lambda: ip.link("add", ifname=name, kind="bridge"))
    index = link_index(ip, name)
    assert index is not None
    ip.link("set", index=index, mtu=mtu, state="up")
    return index


def _ensure_veth(ip: IPRoute, name: str, namespace: str, peer: str, bridge: int) -> None:
    """``name`` here on ``bridge``, its peer ``peer`` in ``namespace``."""
    if link_index(ip, name) is None:
        if link_index(ip, peer) is not None:
            delete_link(ip, peer)  # a half-made pair from a crash
        ip.link("add", ifname=name, kind="veth", peer={"ifname": peer, "net_ns_fd": namespace})
    index = link_index(ip, name)
    ip.link("set", index=index, master=bridge)


def _ensure_address(ip: IPRoute, ifname: str, address: str, prefixlen: int) -> None:
    index = link_index(ip, ifname)
    present = {(a.get("IFA_ADDRESS"), a["prefixlen"]) for a in ip.get_addr(index=index)}
    if (address, prefixlen) not in present:
        tolerate_exists(lambda: ip.addr("add", index=index, address=address, prefixlen=prefixlen))


def _set_up(ip: IPRoute, ifname: str, mtu: int) -> None:
    ip.link("set", index=link_index(ip, ifname), mtu=mtu, state="up")
