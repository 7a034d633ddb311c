"""Network interfaces of existing domains (os-interface): hot-plugged into
a running real guest and out of it, and always into (or out of) its
definition, so a restart keeps them. libvirt's test driver cannot
hot-plug: its domains get the change in their definition alone, which
their next start uses.

A real guest's interface is hot-plugged from a thread inside the host's
namespace (hosts as namespaces): libvirt opens an ethernet interface's tap
by name, in the namespace of the calling thread."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any, Protocol

import libvirt

from workers.drivers.domain_interfaces import InterfaceSpec, validate_interfaces
from workers.drivers.domain_xml import REAL_DOMAIN_TYPES


class InterfaceAttachments(Protocol):
    """The interface half of the Hypervisor port (workers/drivers/hypervisor.py),
    with the same idempotence and error rules."""

    def ensure_interfaces(self, name: str, interfaces: Sequence[InterfaceSpec]) -> None:
        """Make the domain's network interfaces exactly ``interfaces`` (taps
        named by the network driver, which made them): those missing are
        hot-plugged into a running real guest, those not listed unplugged
        from it (the guest is asked; its kernel lets go), and the definition
        is changed to match. A domain that is off, or on the test driver,
        gets them at its next start. An unknown domain is not an error.
        Raises PermanentDriverError for an interface no hypervisor takes."""
        ...

    def interfaces(self, name: str) -> list[InterfaceSpec]:
        """The domain's interfaces by its definition, in order; [] if unknown."""
        ...


def interfaces_in(xml: str) -> list[InterfaceSpec]:
    """The ethernet interfaces a domain document names, in order."""
    found = []
    root = ET.fromstring(xml)  # noqa: S314 - libvirt's own XML, not a tenant's
    for element in root.iterfind("./devices/interface[@type='ethernet']"):
        target, mac, model = element.find("target"), element.find("mac"), element.find("model")
        if target is None or mac is None:
            continue
        kind = model.get("type", "virtio") if model is not None else "virtio"
        found.append(InterfaceSpec(target.get("dev", ""), mac.get("address", ""), kind))
    return found


def interface_xml(nic: InterfaceSpec) -> str:
    return ET.tostring(interface_element(nic), encoding="unicode")


def interface_element(nic: InterfaceSpec) -> ET.Element:
    """An existing tap (``managed='no'``: libvirt neither makes nor deletes
    it) with the guest's MAC."""
    element = ET.Element("interface", type="ethernet")
    ET.SubElement(element, "mac", address=nic.mac)
    ET.SubElement(element, "target", dev=nic.tap, managed="no")
    ET.SubElement(element, "model", type=nic.model)
    return element


def with_interfaces(xml: str, interfaces: Sequence[InterfaceSpec]) -> str:
    """The document with exactly these ethernet interfaces, the others kept."""
    root = ET.fromstring(xml)  # noqa: S314 - libvirt's own XML, not a tenant's
    devices = root.find("devices")
    if devices is None:
        devices = ET.SubElement(root, "devices")
    for element in devices.findall("interface[@type='ethernet']"):
        devices.remove(element)
    for nic in interfaces:
        devices.append(interface_element(nic))
    return ET.tostring(root, encoding="unicode")


class LibvirtInterfaces:
    """The interface half of LibvirtHypervisor, on one connection."""

    def __init__(self, domain_type: str, netns: str | None) -> None:
        self._real = domain_type in REAL_DOMAIN_TYPES
        self._netns = netns

    def ensure(self, dom: Any, interfaces: Sequence[InterfaceSpec]) -> None:
        validate_interfaces(str(dom.name()), interfaces)
        if self._real and dom.isActive():
            self._hot_plug(dom, interfaces)
        inactive = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        if interfaces_in(inactive) != list(interfaces):
            dom.connect().defineXML(with_interfaces(inactive, interfaces))

    def _hot_plug(self, dom: Any, interfaces: Sequence[InterfaceSpec]) -> None:
        live = interfaces_in(dom.XMLDesc(0))
        wanted = {nic.tap for nic in interfaces}
        for nic in live:
            if nic.tap not in wanted:
                self._in_host(lambda n=nic: dom.detachDeviceFlags(interface_xml(n), _LIVE))
        have = {nic.tap for nic in live}
        for nic in interfaces:
            if nic.tap not in have:
                self._in_host(lambda n=nic: dom.attachDeviceFlags(interface_xml(n), _LIVE))

    def _in_host(self, work: Any) -> None:
        if self._netns is None:
            work()
            return
        from workers.drivers.netns import in_namespace  # pyroute2: only when used

        in_namespace(self._netns, work)


_LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
