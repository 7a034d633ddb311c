"""A domain's network interfaces: the taps a network driver made, each with
the guest's MAC, and what every hypervisor refuses to be given."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from workers.drivers.errors import PermanentDriverError

# A tap's name: what the network driver makes (tap_name), nothing a shell or
# XML would read specially; IFNAMSIZ leaves 15 characters.
_TAP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,14}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
INTERFACE_MODELS = frozenset({"virtio", "e1000", "rtl8139"})


@dataclass(frozen=True)
class InterfaceSpec:
    """One network interface of a domain: the guest's MAC on a tap the
    network driver made on the host (libvirt opens it, never creates it)."""

    tap: str
    mac: str
    model: str = "virtio"


def validate_interfaces(domain: str, interfaces: Sequence[InterfaceSpec]) -> None:
    """Raise PermanentDriverError for an interface no hypervisor should get."""
    for nic in interfaces:
        if not _TAP_NAME.match(nic.tap):
            raise PermanentDriverError(f"{domain}: not a tap name: {nic.tap!r}")
        if not _MAC.match(nic.mac) or int(nic.mac[:2], 16) & 1:
            raise PermanentDriverError(f"{domain}: not a unicast MAC: {nic.mac!r}")
        if nic.model not in INTERFACE_MODELS:
            raise PermanentDriverError(f"{domain}: unknown NIC model {nic.model!r}")
    for field_name in ("tap", "mac"):
        values = [getattr(nic, field_name) for nic in interfaces]
        if len(set(values)) != len(values):
            raise PermanentDriverError(f"{domain}: an interface {field_name} is used twice")
