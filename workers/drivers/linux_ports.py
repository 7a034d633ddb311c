"""The real PortDriver: Linux bridges, taps and segment devices in one
host's network namespace (None: the process's own, on a real host).

Each device the driver makes carries an alias naming what it is for
(``cloudledger port <id> network <id>``), so ``list_*`` can report full
ids, and a reconcile can tell our devices from anything else on the host.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from pyroute2 import IPRoute

from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.netns import (
    add_tap,
    delete_link,
    ipr,
    link_index,
    set_sysctl,
    tolerate_exists,
)
from workers.drivers.network_types import (
    PluggedPort,
    PortBinding,
    Segment,
    SegmentState,
    bridge_name,
    tap_name,
)
from workers.drivers.segments import SegmentDevices, VlanDevices, VxlanDevices, flood_entries

PORT_ALIAS = "cloudledger port {port} network {network}"
BRIDGE_ALIAS = "cloudledger network {network} segment {device}"


class LinuxPorts:
    """Ports on Linux bridges in namespace ``namespace``.

    ``vxlan`` and ``vlan`` make those segment kinds (None: unavailable on
    this host); ``flat_bridges`` maps a physical network to a bridge that
    exists already (the external network's), which is never removed.
    """

    def __init__(
        self,
        namespace: str | None,
        *,
        vxlan: VxlanDevices | None = None,
        vlan: VlanDevices | None = None,
        flat_bridges: Mapping[str, str] | None = None,
    ) -> None:
        self.namespace = namespace
        self._kinds: dict[str, SegmentDevices] = {}
        if vxlan is not None:
            self._kinds["vxlan"] = vxlan
        if vlan is not None:
            self._kinds["vlan"] = vlan
        self._flat = dict(flat_bridges or {})
        self._lock = threading.Lock()

    def ensure_port(self, port: PortBinding) -> str:
        with self._lock, ipr(self.namespace) as ip:
            bridge = self._ensure_network(ip, port.segment)
            index = link_index(ip, port.tap)
            if index is None:
                add_tap(self.namespace, port.tap)
                index = _must_exist(ip, port.tap)
                self._no_ipv6(port.tap)
            previous = _master(ip, index)
            self._enslave(ip, index, port, bridge)
            if previous not in (None, bridge):  # moved from another network
                self._remove_network_if_unused(ip, previous)
        return port.tap

    def ensure_veth_port(self, port: PortBinding, namespace: str, inner: str) -> str:
        """Plug ``port`` as a veth whose other end is ``inner`` in
        ``namespace`` (a DHCP server's or a router's), with the port's MAC."""
        with self._lock, ipr(self.namespace) as ip:
            bridge = self._ensure_network(ip, port.segment)
            index = link_index(ip, port.tap)
            if index is None:
                if link_index(ip, inner) is None:
                    tolerate_exists(
                        lambda: ip.link("add", ifname=port.tap, kind="veth", peer={"ifname": inner})
                    )
                index = _must_exist(ip, port.tap)
                self._no_ipv6(port.tap)
            stray = link_index(ip, inner)  # made but not yet moved (a crash)
            if stray is not None:
                ip.link("set", index=stray, net_ns_fd=namespace)
            self._enslave(ip, index, port, bridge)
        with ipr(namespace) as inside:
            inner_index = _must_exist(inside, inner)
            inside.link("set", index=inner_index, address=port.mac, mtu=port.segment.mtu)
            inside.link("set", index=inner_index, state="up")
        return port.tap

    def remove_port(self, port_id: str) -> None:
        tap = tap_name(port_id)
        with self._lock, ipr(self.namespace) as ip:
            index = link_index(ip, tap)
            if index is None:
                return
            bridge = _master(ip, index)
            delete_link(ip, tap)
            if bridge is not None:
                self._remove_network_if_unused(ip, bridge)

    def update_segment(self, segment: Segment) -> None:
        with self._lock, ipr(self.namespace) as ip:
            bridge = link_index(ip, self._bridge_for(segment))
            if bridge is not None and segment.kind in self._kinds:
                self._kinds[segment.kind].ensure(ip, segment, bridge)

    def list_ports(self) -> list[PluggedPort]:
        found = []
        with ipr(self.namespace) as ip:
            for link in ip.get_links():
                words = str(link.get("ifalias") or "").split()
                if words[:2] == ["cloudledger", "port"] and len(words) == 5:
                    found.append(PluggedPort(words[2], words[4], str(link.get("ifname"))))
        return sorted(found, key=lambda p: p.port_id)

    def list_segments(self) -> list[SegmentState]:
        found = []
        with ipr(self.namespace) as ip:
            for link in ip.get_links():
                words = str(link.get("ifalias") or "").split()
                if words[:2] != ["cloudledger", "network"] or len(words) != 5:
                    continue
                device = None if words[4] == "-" else words[4]
                floods: frozenset[str] = frozenset()
                device_index = link_index(ip, device) if device else None
                if device_index is not None and device and device.startswith("vxlan-"):
                    floods = flood_entries(ip, device_index)
                found.append(SegmentState(words[2], str(link.get("ifname")), device, floods))
        return sorted(found, key=lambda s: s.network_id)

    def _ensure_network(self, ip: IPRoute, segment: Segment) -> int:
        """The network's bridge (made if missing) with its segment device."""
        if segment.kind == "flat":
            index = link_index(ip, self._bridge_for(segment))
            if index is None:
                raise PermanentDriverError(f"no bridge for flat network {segment.physical_network}")
            return index
        devices = self._kinds.get(segment.kind)
        if devices is None:
            raise PermanentDriverError(f"{segment.kind} segments are unavailable on this host")
        name = bridge_name(segment.network_id)
        index = link_index(ip, name)
        if index is None:
            tolerate_exists(lambda: ip.link("add", ifname=name, kind="bridge"))
            index = _must_exist(ip, name)
            self._no_ipv6(name)
        device = devices.device_name(segment) or "-"
        alias = BRIDGE_ALIAS.format(network=segment.network_id, device=device)
        ip.link("set", index=index, ifalias=alias, mtu=segment.mtu, state="up")
        try:
            devices.ensure(ip, segment, index)
        except PermanentDriverError:
            self._remove_network_if_unused(ip, index)  # no half-made network
            raise
        return index

    def _enslave(self, ip: IPRoute, index: int, port: PortBinding, bridge: int) -> None:
        alias = PORT_ALIAS.format(port=port.port_id, network=port.segment.network_id)
        # The tap's own MAC starts with fe, as Nova's do, so a bridge never
        # takes the guest's MAC as its own.
        ip.link("set", index=index, ifalias=alias, mtu=port.segment.mtu, master=bridge)
        ip.link("set", index=index, address="fe" + port.mac[2:], state="up")

    def _remove_network_if_unused(self, ip: IPRoute, bridge: int | None) -> None:
        if bridge is None:
            return
        links = ip.get_links()
        name = next((str(x.get("ifname")) for x in links if x["index"] == bridge), None)
        if name is None or name in self._flat.values() or not name.startswith("brq"):
            return
        members = [x for x in links if x.get("master") == bridge]
        if any(str(x.get("ifname")).startswith("tap") for x in members):
            return
        for member in members:  # the segment device
            delete_link(ip, str(member.get("ifname")))
        delete_link(ip, name)

    def _bridge_for(self, segment: Segment) -> str:
        if segment.kind == "flat":
            return self._flat.get(segment.physical_network or "", "")
        return bridge_name(segment.network_id)

    def _no_ipv6(self, ifname: str) -> None:
        """A host's bridges and taps carry tenant frames only: no address of
        the host's own (no IPv6 link-local, no router solicitations)."""
        set_sysctl(self.namespace, f"net/ipv6/conf/{ifname}/disable_ipv6", "1")


def _master(ip: IPRoute, index: int) -> int | None:
    master = ip.get_links(index)[0].get("master")
    return int(master) if master else None


def _must_exist(ip: IPRoute, ifname: str) -> int:
    index = link_index(ip, ifname)
    if index is None:
        raise TransientDriverError(f"{ifname} vanished as it was made")
    return index
