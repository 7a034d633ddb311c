"""What the network drivers are told: segments, ports, DHCP entries, routers
and filters, as frozen values checked once, when they are made.

Every name a driver gives a device is derived from an id (a UUID) here,
never from tenant text: ``tap`` + 12 hex digits of the port id fits
IFNAMSIZ (15 characters) and needs no quoting anywhere.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass, field

from workers.drivers.errors import PermanentDriverError

SEGMENT_KINDS = frozenset({"vxlan", "vlan", "flat"})
# A VXLAN header and outer UDP/IP/Ethernet cost 50 bytes on the underlay.
VXLAN_OVERHEAD = 50
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
# RFC 1123 host name label: what a DHCP hosts file line may carry safely.
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_PHYSNET = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def hex_id(value: str) -> str:
    """The 32 hex digits of a UUID; PermanentDriverError if it is not one."""
    try:
        return uuid.UUID(value).hex
    except (ValueError, AttributeError, TypeError):
        raise PermanentDriverError(f"not a uuid: {value!r}") from None


def canonical_id(value: str) -> str:
    """A UUID in its lower-case hyphenated form."""
    return str(uuid.UUID(hex_id(value)))


def tap_name(port_id: str) -> str:
    """The host-side device of a port: ``tap`` + 12 hex digits of its id."""
    return "tap" + hex_id(port_id)[:12]


def bridge_name(network_id: str) -> str:
    """A tenant network's bridge on a host (Neutron's ``brq`` + id)."""
    return "brq" + hex_id(network_id)[:12]


def check_mac(mac: str) -> str:
    """A unicast MAC in lower-case colon form."""
    if not _MAC.match(mac) or int(mac[:2], 16) & 1:
        raise PermanentDriverError(f"not a unicast MAC address: {mac!r}")
    return mac


def check_hostname(name: str) -> str:
    if not _HOSTNAME.match(name):
        raise PermanentDriverError(f"not a host name: {name!r}")
    return name


def check_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise PermanentDriverError(f"not an IP address: {value!r}") from None


def check_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        raise PermanentDriverError(f"not a network in CIDR form: {value!r}") from None


@dataclass(frozen=True)
class Segment:
    """How one tenant network reaches the hosts that have its ports.

    ``kind`` "vxlan" uses ``segmentation_id`` as the VNI and floods to
    ``vteps``: the underlay addresses of every host where the network has
    ports (a host leaves out its own). "vlan" uses it as the 802.1Q id on
    ``physical_network``; "flat" is ``physical_network`` as it is (the
    external network). ``mtu`` is the tenant's MTU on the segment.
    """

    network_id: str
    kind: str
    segmentation_id: int | None = None
    physical_network: str | None = None
    mtu: int = 1500
    vteps: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "network_id", canonical_id(self.network_id))
        if self.kind not in SEGMENT_KINDS:
            raise PermanentDriverError(f"unknown segment kind {self.kind!r}")
        if self.kind == "vxlan" and not (
            self.segmentation_id and 0 < self.segmentation_id < 1 << 24
        ):
            raise PermanentDriverError(f"VXLAN needs a VNI in 1..2^24-1: {self.segmentation_id}")
        if self.kind == "vlan" and not (self.segmentation_id and 0 < self.segmentation_id < 4095):
            raise PermanentDriverError(f"VLAN needs an id in 1..4094: {self.segmentation_id}")
        if self.kind != "vxlan" and not _PHYSNET.match(self.physical_network or ""):
            raise PermanentDriverError(f"{self.kind} needs a physical network name")
        if not 576 <= self.mtu <= 9000:
            raise PermanentDriverError(f"MTU out of range: {self.mtu}")
        object.__setattr__(self, "vteps", frozenset(check_ip(v) for v in self.vteps))


@dataclass(frozen=True)
class PortBinding:
    """A port plugged on a host: a tap on its network's bridge. ``mac`` is
    the guest's address (the tap itself keeps a MAC of its own)."""

    port_id: str
    segment: Segment
    mac: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "port_id", canonical_id(self.port_id))
        object.__setattr__(self, "mac", check_mac(self.mac.lower()))

    @property
    def tap(self) -> str:
        return tap_name(self.port_id)


@dataclass(frozen=True)
class PluggedPort:
    """A port a host has plugged, as the host reports it."""

    port_id: str
    network_id: str
    tap: str


@dataclass(frozen=True)
class SegmentState:
    """A network present on a host: its bridge, segment device and floods."""

    network_id: str
    bridge: str
    device: str | None
    vteps: frozenset[str]
