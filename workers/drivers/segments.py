"""Segment devices: what joins a network's bridge on one host to the same
network on the others. VXLAN (a VNI per network, over the underlay) works
on every kernel this project runs on; VLAN (802.1Q on a physical
interface) only where the kernel has it; flat is a bridge that exists
already (the external network's), which the driver never removes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.netns import link_index, tolerate_exists
from workers.drivers.network_types import VXLAN_OVERHEAD, Segment, check_ip

VXLAN_PORT = 4789  # IANA's
FLOOD_MAC = "00:00:00:00:00:00"  # the fdb entry a vxlan device floods with
EOPNOTSUPP = 95


class SegmentDevices(Protocol):
    """Makes one kind of segment device on a host (inside ``ip``'s namespace)."""

    def device_name(self, segment: Segment) -> str | None:
        """The device that joins the bridge (None: the bridge is the segment)."""
        ...

    def ensure(self, ip: IPRoute, segment: Segment, bridge: int) -> None:
        """Make the device if missing, on the bridge, up, flooding right."""
        ...

    def floods(self, ip: IPRoute, segment: Segment) -> frozenset[str]:
        """Where the device floods to now."""
        ...


@dataclass(frozen=True)
class VxlanDevices:
    """One ``vxlan-<VNI>`` device per network, from this host's underlay
    address ``local_ip`` on ``underlay`` (a device name), with no remote or
    group: it floods by head-end replication to one all-zero fdb entry per
    peer, each added exactly once (a second copy doubles every frame)."""

    local_ip: str
    underlay: str

    def __post_init__(self) -> None:
        check_ip(self.local_ip)

    def device_name(self, segment: Segment) -> str | None:
        return f"vxlan-{segment.segmentation_id}"

    def ensure(self, ip: IPRoute, segment: Segment, bridge: int) -> None:
        name = f"vxlan-{segment.segmentation_id}"
        index = link_index(ip, name)
        if index is None:
            under = self._underlay(ip, segment)
            tolerate_exists(
                lambda: ip.link(
                    "add",
                    ifname=name,
                    kind="vxlan",
                    vxlan_id=segment.segmentation_id,
                    vxlan_local=self.local_ip,
                    vxlan_link=under,
                    vxlan_port=VXLAN_PORT,
                    mtu=segment.mtu,
                )
            )
            index = link_index(ip, name)
            if index is None:
                raise TransientDriverError(f"{name} vanished as it was made")
        ip.link("set", index=index, master=bridge, state="up")
        self._set_floods(ip, index, segment)

    def floods(self, ip: IPRoute, segment: Segment) -> frozenset[str]:
        index = link_index(ip, f"vxlan-{segment.segmentation_id}")
        return frozenset() if index is None else flood_entries(ip, index)

    def _underlay(self, ip: IPRoute, segment: Segment) -> int:
        index = link_index(ip, self.underlay)
        if index is None:
            raise PermanentDriverError(f"no underlay device {self.underlay}")
        mtu = int(ip.get_links(index)[0].get("mtu"))
        if mtu < segment.mtu + VXLAN_OVERHEAD:
            raise PermanentDriverError(
                f"underlay MTU {mtu} cannot carry a {segment.mtu}-byte tenant MTU over VXLAN"
            )
        return index

    def _set_floods(self, ip: IPRoute, index: int, segment: Segment) -> None:
        wanted = segment.vteps - {self.local_ip}
        present = flood_entries(ip, index)
        for stale in sorted(present - wanted):
            ip.fdb("del", ifindex=index, lladdr=FLOOD_MAC, dst=stale)
        for peer in sorted(wanted - present):
            ip.fdb("append", ifindex=index, lladdr=FLOOD_MAC, dst=peer)


@dataclass(frozen=True)
class VlanDevices:
    """``<interface>.<VLAN id>`` on the interface mapped to the segment's
    physical network. Where the kernel has no 802.1Q (as here), making one
    fails with a PermanentDriverError saying so."""

    interfaces: dict[str, str] = field(default_factory=dict)

    def device_name(self, segment: Segment) -> str | None:
        return f"{self._interface(segment)}.{segment.segmentation_id}"[:15]

    def ensure(self, ip: IPRoute, segment: Segment, bridge: int) -> None:
        name = self.device_name(segment)
        assert name is not None
        index = link_index(ip, name)
        if index is None:
            parent = link_index(ip, self._interface(segment))
            if parent is None:
                raise PermanentDriverError(f"no interface {self._interface(segment)}")
            try:
                ip.link(
                    "add", ifname=name, kind="vlan", link=parent, vlan_id=segment.segmentation_id
                )
            except NetlinkError as error:
                if error.code == EOPNOTSUPP:
                    raise PermanentDriverError(
                        "VLAN segments are unavailable: this kernel has no 802.1Q support"
                    ) from None
                raise
            index = link_index(ip, name)
        ip.link("set", index=index, master=bridge, state="up", mtu=segment.mtu)

    def floods(self, ip: IPRoute, segment: Segment) -> frozenset[str]:
        return frozenset()

    def _interface(self, segment: Segment) -> str:
        physnet = segment.physical_network or ""
        if physnet not in self.interfaces:
            raise PermanentDriverError(f"no interface for physical network {physnet!r}")
        return self.interfaces[physnet]


def flood_entries(ip: IPRoute, index: int) -> frozenset[str]:
    return frozenset(
        str(entry.get("NDA_DST"))
        for entry in ip.fdb("dump", ifindex=index)
        if entry.get("NDA_LLADDR") == FLOOD_MAC and entry.get("ifindex") == index
    )
