"""Where a tenant's strings end on a compute host (docs/tenant-input.md): of
everything a boot carries, only the image's ``os_command_line`` reaches the
libvirt domain, as one text node; server names, metadata, descriptions and
tags never do; control characters are refused before anything is stored."""

from __future__ import annotations

import functools
import hashlib
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from uuid import UUID

import pytest
from hostile_images import made_qcow2

from commands.app import CloudApp
from commands.catalog import CreateFlavor, RegisterHost, create_flavor, register_host
from commands.compute import claim_host, finish_spawn
from commands.identity import CreateProject, create_project
from commands.images import CreateImage, create_image
from commands.server_details import snapshot_server
from commands.servers import BootServer, boot_server
from domain.errors import InvalidInput
from domain.image import Image
from domain.values import SYSTEM, Actor
from workers.drivers.domain_xml import domain_xml
from workers.drivers.fake_disks import FakeDiskStore
from workers.drivers.fake_hypervisor import FakeHypervisor
from workers.drivers.image_cache import DirectoryImageCache, Sink
from workers.jobs.domain_spec import spec_for
from workers.runtime import ComputeContext

# Markup, quotes and an ampersand: what would add a disk or end the element
# if the document were built as text.
HOSTILE = (
    "console=ttyS0 </cmdline></os><devices><disk type='file' device='disk'>"
    '<source file="/etc/shadow"/><target dev="vdz"/></disk></devices><os><cmdline>'
    " & init=/bin/sh 'q' \"dq\""
)
DATA = b"bytes of an image"  # a raw kernel or ramdisk
_BYTES: dict[str, bytes] = {}  # image id -> what the host fetches for it


@functools.cache
def _qcow2() -> bytes:
    """A real qcow2 (hosts inspect what they cache, with qemu-img too)."""
    with tempfile.TemporaryDirectory() as folder:
        return made_qcow2(Path(folder), "1M").read_bytes()


def _upload(image: Image, owner: Actor) -> None:
    data = _qcow2() if image.disk_format == "qcow2" else DATA
    digest = hashlib.sha512(data).hexdigest()
    image.record_upload(hashlib.md5(data).hexdigest(), "sha512", digest, len(data), owner)
    _BYTES[str(image.id)] = data


def _world() -> tuple[CloudApp, Actor]:
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    admin = Actor("root", "admin", ("admin",), "req-r")
    create_flavor(CreateFlavor("1", "m1.tiny", 1, 512, 1), app, admin)
    register_host(RegisterHost("compute-1", 16, 65536, 1000), app, admin)
    project = create_project(CreateProject("alpha"), app, SYSTEM).id.hex
    return app, Actor("alice", project, ("member",), "req-a")


def _active_image(
    app: CloudApp, owner: Actor, disk_format: str, properties: dict[str, str] | None = None
) -> str:
    image = Image(
        owner=owner.project_id, name=disk_format, disk_format=disk_format,
        container_format="bare", visibility="public", min_disk=0, min_ram=0,
        properties=properties or {}, actor=owner,
    )  # fmt: skip
    _upload(image, owner)
    app.save(image)
    return str(image.id)


def _host(app: CloudApp, tmp_path: Path) -> ComputeContext:
    def fetch(image_id: str, out: Sink) -> None:
        out.write(_BYTES[image_id])

    root = tmp_path / "disks"
    return ComputeContext(
        app, "compute-1", FakeHypervisor(), FakeDiskStore(root), fetch, DirectoryImageCache(root)
    )


def _domain(app: CloudApp, tmp_path: Path, cmd: BootServer, actor: Actor) -> ET.Element:
    """The libvirt document a real (QEMU) host would define for this boot."""
    iid = boot_server(cmd, app, actor).id
    assert claim_host(app, iid, "compute-1")
    spec = spec_for(app.repository.get(iid), _host(app, tmp_path))
    return ET.fromstring(domain_xml(spec, "qemu"))


def test_a_kernel_command_line_is_one_text_node_of_the_domain(tmp_path: Path) -> None:
    app, alice = _world()
    kernel = _active_image(app, alice, "aki")
    ramdisk = _active_image(app, alice, "ari")
    props = {"kernel_id": kernel, "ramdisk_id": ramdisk, "os_command_line": HOSTILE}
    image_id = str(create_image(CreateImage("k", properties=props), app, alice).id)
    image = app.repository.get(UUID(image_id))
    _upload(image, alice)
    app.save(image)

    root = _domain(app, tmp_path, BootServer("vm", "1", image_id, "none"), alice)

    assert root.findtext("os/cmdline") == HOSTILE
    assert [d.find("source").get("file") for d in root.iter("disk")] == [  # type: ignore[union-attr]
        str((tmp_path / "disks").resolve() / root.findtext("uuid", "") / "disk")
    ]
    assert [t.get("dev") for t in root.iter("target") if t.get("dev")] == ["vda"]
    cache = (tmp_path / "disks" / "_base").resolve()
    assert root.findtext("os/kernel") == str(cache / kernel)
    assert root.findtext("os/initrd") == str(cache / ramdisk)


def test_server_names_metadata_descriptions_and_tags_never_reach_the_domain(
    tmp_path: Path,
) -> None:
    app, alice = _world()
    image_id = _active_image(app, alice, "qcow2")
    marks = ("zq-name</name><vcpu>64", "zq-meta</name>", "zq-desc<devices/>", "zq-tag<os>")
    cmd = BootServer(
        marks[0], "1", image_id, "none", metadata={"k": marks[1]}, description=marks[2],
        tags=(marks[3],),
    )  # fmt: skip

    root = _domain(app, tmp_path, cmd, alice)

    document = ET.tostring(root, encoding="unicode")
    assert root.findtext("name") == f"instance-{root.findtext('uuid')}"
    assert "zq-" not in document


@pytest.mark.parametrize("bad", ["a\nb", "a\x00b", "a\x1bb", "a\ud800b"])
def test_control_characters_never_reach_an_image_property(bad: str) -> None:
    """The domain document is XML 1.0, which cannot carry them; the image
    create and a snapshot's metadata refuse them alike."""
    app, alice = _world()
    with pytest.raises(InvalidInput):
        create_image(CreateImage("k", properties={"os_command_line": bad}), app, alice)
    cmd = BootServer("vm", "1", _active_image(app, alice, "qcow2"), "none")
    iid = boot_server(cmd, app, alice).id
    assert claim_host(app, iid, "compute-1")
    finish_spawn(app, iid)
    with pytest.raises(InvalidInput):
        snapshot_server(str(iid), "snap", {"os_command_line": bad}, app, alice)
