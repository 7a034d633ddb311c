"""The real RouterDriver: each router a namespace of its own on the network
node (``<prefix>router-<id>``), with a veth leg on each tenant subnet's
bridge (``qr-…``) and one on the external bridge (``qg-…``), forwarding
between them, and its NAT as one nftables table replaced whole by
``nft -f`` (SNAT for the subnets, DNAT/SNAT for floating IPs, whose
addresses it holds on its external leg so it answers ARP for them)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable
from typing import Any

from pyroute2 import IPRoute
from pyroute2.conntrack import Conntrack
from pyroute2.netlink.exceptions import NetlinkError

from workers.drivers.linux_ports import LinuxPorts
from workers.drivers.netns import (
    NETLINK_NETFILTER,
    ensure_namespace,
    ipr,
    link_index,
    list_namespaces,
    namespace_exists,
    namespace_pids,
    netlink_socket,
    remove_namespace,
    replace_addresses,
    set_sysctl,
)
from workers.drivers.network_specs import FloatingIp, RouterSpec, RouterState
from workers.drivers.network_types import PortBinding, canonical_id, hex_id
from workers.drivers.processes import end_processes
from workers.drivers.runner import CommandRunner

NAT_TABLE = "cloudledger_router"
LEG_ALIAS = "cloudledger router-leg {kind} {port}"
NFT_TIMEOUT_S = 20.0


def nat_ruleset(spec: RouterSpec) -> str:
    """The router's whole NAT table, replacing the old one in one step."""
    lines = [f"add table ip {NAT_TABLE}", f"delete table ip {NAT_TABLE}"]
    gateway = spec.gateway
    if gateway is None:
        return "\n".join(lines) + "\n"
    out = leg_name("qg", gateway.port)
    pre, post = [], []
    for fip in sorted(spec.floating_ips, key=lambda f: f.floating_ip):
        pre.append(f"ip daddr {fip.floating_ip} dnat to {fip.fixed_ip}")
        post.append(f'ip saddr {fip.fixed_ip} oifname "{out}" snat to {fip.floating_ip}')
    subnets = sorted({leg.cidr for leg in spec.interfaces})
    if gateway.snat and subnets:
        inside = ", ".join(subnets)
        post.append(f'ip saddr {{ {inside} }} oifname "{out}" snat to {gateway.address}')
    lines += [
        f"table ip {NAT_TABLE} {{",
        "  chain prerouting { type nat hook prerouting priority dstnat; policy accept;",
        *(f"    {rule}" for rule in pre),
        "  }",
        "  chain postrouting { type nat hook postrouting priority srcnat; policy accept;",
        *(f"    {rule}" for rule in post),
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def leg_name(kind: str, port: PortBinding) -> str:
    """A router's end of a leg: ``qr-``/``qg-`` + 12 hex digits of its port."""
    return f"{kind}-{hex_id(port.port_id)[:12]}"


class LinuxRouters:
    """Routers on the network node whose ports are ``ports``."""

    def __init__(self, ports: LinuxPorts, runner: CommandRunner, namespace_prefix: str) -> None:
        self._ports, self._runner = ports, runner
        self._prefix = namespace_prefix
        self._lock = threading.Lock()

    def namespace(self, router_id: str) -> str:
        return f"{self._prefix}router-{canonical_id(router_id)}"

    def ensure_router(self, spec: RouterSpec) -> None:
        namespace = self.namespace(spec.router_id)
        with self._lock:
            ensure_namespace(namespace)
            set_sysctl(namespace, "net/ipv4/ip_forward", "1")
            legs = [("qr", i.port, {(i.address, i.prefixlen)}) for i in spec.interfaces]
            if spec.gateway is not None:
                own = {(spec.gateway.address, spec.gateway.prefixlen)}
                fips = {(f.floating_ip, 32) for f in spec.floating_ips}
                legs.append(("qg", spec.gateway.port, own | fips))
            wanted = {leg_name(kind, port) for kind, port, _ in legs}
            self._remove_legs(namespace, keep=wanted)
            for kind, port, addresses in legs:
                self._ensure_leg(namespace, kind, port, addresses)
            self._ensure_default_route(namespace, spec)
            before = self._floating_ips(namespace)
            self._runner.run(
                ["nft", "-f", "-"], input=nat_ruleset(spec), netns=namespace, timeout=NFT_TIMEOUT_S
            )
            # Conntrack keeps NAT of flows it has seen: a moved or removed
            # floating IP must not go on carrying them.
            gone = before - frozenset(spec.floating_ips)
            forget_flows(namespace, {f.floating_ip for f in gone})

    def remove_router(self, router_id: str) -> None:
        namespace = self.namespace(router_id)
        with self._lock:
            if not namespace_exists(namespace):
                return
            self._remove_legs(namespace, keep=set())
            end_processes(namespace_pids(namespace))  # none is expected: be sure
            remove_namespace(namespace)

    def list_routers(self) -> list[RouterState]:
        found = []
        for namespace in list_namespaces(f"{self._prefix}router-"):
            router_id = namespace.removeprefix(f"{self._prefix}router-")
            legs = self._legs(namespace)
            inside = frozenset(port for kind, port in legs.values() if kind == "qr")
            gateway = next((port for kind, port in legs.values() if kind == "qg"), None)
            found.append(RouterState(router_id, inside, gateway, self._floating_ips(namespace)))
        return sorted(found, key=lambda r: r.router_id)

    def _ensure_leg(
        self, namespace: str, kind: str, port: PortBinding, addresses: set[tuple[str, int]]
    ) -> None:
        inner = leg_name(kind, port)
        self._ports.ensure_veth_port(port, namespace, inner)
        with ipr(namespace) as ip:
            index = link_index(ip, inner)
            alias = LEG_ALIAS.format(kind=kind, port=port.port_id)
            ip.link("set", index=index, ifalias=alias)
            replace_addresses(ip, inner, addresses)

    def _remove_legs(self, namespace: str, keep: set[str]) -> None:
        for name, (_, port_id) in self._legs(namespace).items():
            if name not in keep:
                self._ports.remove_port(port_id)  # both ends of the veth go

    def _legs(self, namespace: str) -> dict[str, tuple[str, str]]:
        """leg name -> (kind, port id), from the aliases the legs carry."""
        legs = {}
        with ipr(namespace) as ip:
            for link in ip.get_links():
                words = str(link.get("ifalias") or "").split()
                if words[:2] == ["cloudledger", "router-leg"] and len(words) == 4:
                    legs[str(link.get("ifname"))] = (words[2], words[3])
        return legs

    def _ensure_default_route(self, namespace: str, spec: RouterSpec) -> None:
        with ipr(namespace) as ip:
            _replace_default_route(ip, spec)

    def _floating_ips(self, namespace: str) -> frozenset[FloatingIp]:
        done = self._runner.run(
            ["nft", "-j", "list", "table", "ip", NAT_TABLE],
            check=False,
            netns=namespace,
            timeout=NFT_TIMEOUT_S,
        )
        if not done.ok:
            return frozenset()
        return frozenset(_dnat_pairs(json.loads(done.stdout)["nftables"]))


def _replace_default_route(ip: IPRoute, spec: RouterSpec) -> None:
    present = [r for r in ip.get_routes(family=2, table=254) if r.get("dst_len") == 0]
    wanted = spec.gateway.next_hop if spec.gateway else None
    for route in present:
        if route.get("RTA_GATEWAY") != wanted:
            ip.route("del", dst="0.0.0.0/0", gateway=route.get("RTA_GATEWAY"))
    if wanted is not None and not any(r.get("RTA_GATEWAY") == wanted for r in present):
        ip.route("add", dst="0.0.0.0/0", gateway=wanted)


def _dnat_pairs(items: Iterable[dict[str, Any]]) -> list[FloatingIp]:
    pairs = []
    for item in items:
        rule = item.get("rule")
        if not rule or rule.get("chain") != "prerouting":
            continue
        daddr = next((e["match"]["right"] for e in rule["expr"] if "match" in e), None)
        fixed = next((e["dnat"]["addr"] for e in rule["expr"] if "dnat" in e), None)
        if daddr and fixed:
            pairs.append(FloatingIp(str(daddr), str(fixed)))
    return pairs


def forget_flows(namespace: str, addresses: set[str]) -> None:
    """Delete the namespace's conntrack entries to or NATed to ``addresses``."""
    if not addresses:
        return
    conntrack = Conntrack(fileno=netlink_socket(namespace, NETLINK_NETFILTER))  # no fork
    try:
        for entry in list(conntrack.dump_entries()):
            reached = {entry.tuple_orig.daddr, entry.tuple_reply.daddr}
            if reached & addresses:
                with contextlib.suppress(NetlinkError):  # it expired meanwhile
                    conntrack.delete(entry)
    finally:
        conntrack.close()
