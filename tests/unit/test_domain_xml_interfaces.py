"""A DomainSpec's network interfaces in libvirt domain XML (issue 21)."""

import xml.etree.ElementTree as ET

import pytest

from workers.drivers.domain_interfaces import InterfaceSpec
from workers.drivers.domain_xml import domain_xml
from workers.drivers.hypervisor import DomainSpec

UUID = "0b0c6f4e-5d4b-4a8e-9c3a-1f2e3d4c5b6a"


@pytest.mark.parametrize("domain_type", ["test", "qemu"])
def test_each_interface_is_an_unmanaged_ethernet_tap_with_the_guests_mac(domain_type: str) -> None:
    spec = DomainSpec(
        "inst-1",
        UUID,
        1,
        256,
        (),
        interfaces=(
            InterfaceSpec("tap0a1b2c3d4e5f", "fa:16:3e:00:00:01"),
            InterfaceSpec("tap1b2c3d4e5f60", "fa:16:3e:00:00:02", "e1000"),
        ),
    )

    nics = ET.fromstring(domain_xml(spec, domain_type)).findall("devices/interface")

    assert [ET.tostring(nic, encoding="unicode") for nic in nics] == [
        '<interface type="ethernet"><mac address="fa:16:3e:00:00:01" />'
        '<target dev="tap0a1b2c3d4e5f" managed="no" /><model type="virtio" /></interface>',
        '<interface type="ethernet"><mac address="fa:16:3e:00:00:02" />'
        '<target dev="tap1b2c3d4e5f60" managed="no" /><model type="e1000" /></interface>',
    ]


def test_a_domain_without_interfaces_has_none() -> None:
    spec = DomainSpec("inst-1", UUID, 1, 256, ())

    assert ET.fromstring(domain_xml(spec, "qemu")).findall("devices/interface") == []
