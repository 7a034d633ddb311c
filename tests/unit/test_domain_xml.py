"""Unit tests for rendering a DomainSpec as libvirt domain XML."""

import xml.etree.ElementTree as ET
from dataclasses import replace

from workers.drivers.domain_xml import domain_xml
from workers.drivers.hypervisor import BackingFile, DiskSpec, DomainSpec, UefiBoot

UUID = "0b0c6f4e-5d4b-4a8e-9c3a-1f2e3d4c5b6a"


def _spec(*disks: DiskSpec, name: str = "inst-1") -> DomainSpec:
    return DomainSpec(name=name, uuid=UUID, vcpus=2, memory_mb=1536, disks=disks)


def _render(spec: DomainSpec, domain_type: str = "test") -> ET.Element:
    return ET.fromstring(domain_xml(spec, domain_type))


def test_domain_xml_carries_the_domain_type() -> None:
    assert _render(_spec(), "kvm").get("type") == "kvm"


def test_domain_xml_carries_name_uuid_and_vcpus() -> None:
    root = _render(_spec())

    assert root.findtext("name") == "inst-1"
    assert root.findtext("uuid") == UUID
    assert root.findtext("vcpu") == "2"


def test_domain_xml_gives_memory_in_mib() -> None:
    memory = _render(_spec()).find("memory")

    assert memory is not None
    assert (memory.get("unit"), memory.text) == ("MiB", "1536")


def test_domain_xml_boots_an_hvm_guest() -> None:
    assert _render(_spec()).findtext("os/type") == "hvm"


def _disks(root: ET.Element) -> list[dict[str, dict[str, str]]]:
    """Each disk element as {tag: attributes} of itself and its children."""
    return [
        {"disk": disk.attrib} | {child.tag: child.attrib for child in disk}
        for disk in root.iterfind("devices/disk")
    ]


def test_domain_xml_has_one_virtio_file_disk_per_disk_spec_in_order() -> None:
    root = _render(_spec(DiskSpec("/srv/i/disk", "vda"), DiskSpec("/srv/i/raw", "vdb", "raw")))

    assert _disks(root) == [
        {
            "disk": {"type": "file", "device": "disk"},
            "driver": {"name": "qemu", "type": "qcow2"},
            "source": {"file": "/srv/i/disk"},
            "backingStore": {},  # no backing file: none is read from a header
            "target": {"dev": "vda", "bus": "virtio"},
        },
        {
            "disk": {"type": "file", "device": "disk"},
            "driver": {"name": "qemu", "type": "raw"},
            "source": {"file": "/srv/i/raw"},
            "backingStore": {},
            "target": {"dev": "vdb", "bus": "virtio"},
        },
    ]


def test_domain_xml_names_the_whole_backing_chain_with_its_formats() -> None:
    """libvirt follows what the document names, not what a base image's
    header says: the chain ends, explicitly, at the host's base image."""
    base = BackingFile("/srv/_base/img", "raw")
    root = _render(_spec(DiskSpec("/srv/i/disk", "vda", backing=base)), "qemu")

    (disk,) = root.iterfind("devices/disk")
    layer = disk.find("backingStore")
    assert layer is not None and layer.attrib == {"type": "file"}
    assert layer.find("format").attrib == {"type": "raw"}  # type: ignore[union-attr]
    assert layer.find("source").attrib == {"file": "/srv/_base/img"}  # type: ignore[union-attr]
    end = layer.find("backingStore")
    assert end is not None and end.attrib == {} and list(end) == []


def test_domain_xml_without_disks_has_no_disk_elements() -> None:
    assert _render(_spec()).findall("devices/disk") == []


def test_domain_xml_escapes_markup_in_names_and_paths() -> None:
    spec = _spec(DiskSpec("/srv/a'<b>&c", "vda"), name="x</name><vcpu>64")

    root = _render(spec)

    assert root.findtext("name") == "x</name><vcpu>64"
    assert [vcpu.text for vcpu in root.iter("vcpu")] == ["2"]
    assert _disks(root)[0]["source"] == {"file": "/srv/a'<b>&c"}


def test_a_real_guest_without_a_kernel_boots_from_its_disk_under_bios() -> None:
    os_ = _render(_spec(DiskSpec("/srv/i/disk", "vda")), "qemu").find("os")

    assert os_ is not None
    assert os_.find("type").attrib == {"arch": "x86_64", "machine": "pc"}  # type: ignore[union-attr]
    assert [child.tag for child in os_] == ["type", "boot"]
    assert os_.find("boot").attrib == {"dev": "hd"}  # type: ignore[union-attr]


def test_a_uefi_guest_gets_ovmf_as_pflash_and_its_own_nvram_from_the_template() -> None:
    uefi = UefiBoot("/fw/CODE.fd", "/fw/VARS.fd", "/srv/i/uefi-vars.fd")
    spec = replace(_spec(DiskSpec("/srv/i/disk", "vda")), uefi=uefi)

    os_ = _render(spec, "qemu").find("os")

    assert os_ is not None
    assert os_.find("type").attrib["machine"] == "q35"  # type: ignore[union-attr]
    loader, nvram = os_.find("loader"), os_.find("nvram")
    assert loader is not None and nvram is not None
    assert (loader.text, loader.attrib) == ("/fw/CODE.fd", {"readonly": "yes", "type": "pflash"})
    assert (nvram.text, nvram.attrib) == ("/srv/i/uefi-vars.fd", {"template": "/fw/VARS.fd"})


def test_the_test_driver_gets_no_firmware_it_cannot_run() -> None:
    uefi = UefiBoot("/fw/CODE.fd", "/fw/VARS.fd", "/srv/i/uefi-vars.fd")

    os_ = _render(replace(_spec(), uefi=uefi), "test").find("os")

    assert os_ is not None and [child.tag for child in os_] == ["type"]
