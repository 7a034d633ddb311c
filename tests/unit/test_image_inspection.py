"""Image bytes are inspected at the door (issue 19): an upload, a staging or an
import whose bytes are not their declared disk_format, or would lead a disk
tool to other files, is refused, keeps nothing, leaves the image queued, and
is recorded with its reason and who sent it. What passes is recorded with the
format found and its virtual size."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hostile_images import qcow2, vmdk_flat_descriptor

from commands.app import CloudApp
from commands.image_files import DirectoryImageStore
from commands.image_import import import_image, stage_image
from commands.image_inspection import ACCEPTED, inspect_chunks
from commands.images import CreateImage, create_image, upload_image
from domain.errors import Forbidden
from domain.image import DISK_FORMATS, Image
from domain.image_safety import ImageDataRefused
from domain.values import SYSTEM, Actor

ALICE = Actor("alice", "p-alpha", ("member",), "req-a")
GIB = 1 << 30


@dataclass
class World:
    app: CloudApp
    store: DirectoryImageStore
    staging: DirectoryImageStore
    root: Path


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(
        CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
        DirectoryImageStore(tmp_path / "images"),
        DirectoryImageStore(tmp_path / "staging"),
        tmp_path,
    )


def _create(world: World, disk_format: str = "qcow2") -> str:
    cmd = CreateImage("x", disk_format=disk_format)
    return str(create_image(cmd, world.app, ALICE).id)


def _image(world: World, image_id: str) -> Image:
    image = world.app.repository.get(UUID(image_id))
    assert isinstance(image, Image)
    return image


def _events(world: World, image_id: str) -> list[Any]:
    return list(world.app.events.get(UUID(image_id)))


def _pieces(data: bytes, size: int = 1 << 16) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def _mbr(boot_flag: int = 0x80, partition_type: int = 0x83) -> bytes:
    """A disk whose first sector is an MBR with one partition."""
    sector = bytearray(512)
    entry = struct.pack("<B3BB3BII", boot_flag, 0, 2, 0, partition_type, 0, 0, 0, 2048, 4096)
    sector[446:462] = entry
    sector[510:512] = b"\x55\xaa"
    return bytes(sector) + bytes(1 << 20)


HOSTILE = [
    pytest.param(
        "qcow2", qcow2(backing="/etc/passwd"), "may not name a backing file", id="backing-file"
    ),
    pytest.param(
        "qcow2", qcow2(data_file=True), "may not name an external data file", id="data-file"
    ),
    pytest.param(
        "vmdk", vmdk_flat_descriptor("/etc/shadow"), "extents inside the file", id="vmdk-flat"
    ),
    pytest.param("raw", qcow2(), "its content is qcow2, not raw", id="raw-holding-qcow2"),
    pytest.param("qcow2", bytes(1 << 20), "not qcow2 as declared", id="qcow2-holding-raw"),
    pytest.param("raw", _mbr(boot_flag=0x42), "partition table", id="raw-bad-mbr"),
    pytest.param("iso", qcow2(), "not iso as declared", id="iso-holding-qcow2"),
]


@pytest.mark.parametrize(("disk_format", "data", "reason"), HOSTILE)
def test_a_refused_upload_keeps_nothing_and_records_who_and_why(
    world: World, disk_format: str, data: bytes, reason: str
) -> None:
    image_id = _create(world, disk_format)

    with pytest.raises(ImageDataRefused, match=reason):
        upload_image(image_id, _pieces(data), world.app, world.store, ALICE)

    image = _image(world, image_id)
    assert (image.status, image.size, image.checksum) == ("queued", None, None)
    assert list(world.root.joinpath("images").iterdir()) == []  # not even a temp file
    refused = _events(world, image_id)[-1]
    assert type(refused).__qualname__ == "ImageSafety.UploadRefused"
    assert reason in refused.reason and refused.actor == ALICE


def test_a_refusal_comes_as_soon_as_the_header_is_read(world: World) -> None:
    image_id = _create(world)
    sent: list[int] = []

    def hostile() -> Iterator[bytes]:
        yield qcow2(backing="/etc/passwd", tail=bytes(1 << 20))
        for n in range(1000):  # a GiB more that is never asked for
            sent.append(n)
            yield bytes(1 << 20)

    with pytest.raises(ImageDataRefused):
        upload_image(image_id, hostile(), world.app, world.store, ALICE)
    assert len(sent) <= 1


@pytest.mark.parametrize(
    ("disk_format", "data", "detected", "virtual_size"),
    [
        pytest.param("qcow2", qcow2(virtual_size=3 * GIB), "qcow2", 3 * GIB, id="qcow2"),
        pytest.param("raw", bytes(3 << 20), "raw", 3 << 20, id="raw"),
        pytest.param("raw", _mbr(), "gpt", 512 + (1 << 20), id="raw-with-a-partition-table"),
        pytest.param("raw", b"tiny", "raw", 4, id="raw-shorter-than-a-sector"),
        pytest.param("aki", _mbr(boot_flag=0x42), "gpt", None, id="kernel-boot-sector"),
        pytest.param("ari", b"\x1f\x8b" + bytes(5000), "raw", None, id="ramdisk"),
    ],
)
def test_what_passes_is_recorded_with_its_format_and_virtual_size(
    world: World, disk_format: str, data: bytes, detected: str, virtual_size: int | None
) -> None:
    image_id = _create(world, disk_format)

    upload_image(image_id, _pieces(data), world.app, world.store, ALICE)

    image = _image(world, image_id)
    assert image.status == "active"
    assert (image.detected_format, image.virtual_size) == (detected, virtual_size)
    assert b"".join(world.store.open(image_id)) == data


def test_a_refused_staging_stages_nothing_and_goes_back_to_queued(world: World) -> None:
    image_id = _create(world)

    with pytest.raises(ImageDataRefused, match="backing file"):
        stage_image(image_id, [qcow2(backing="/etc/passwd")], world.app, world.staging, ALICE)

    image = _image(world, image_id)
    assert (image.status, image.staged) == ("queued", None)
    assert list(world.root.joinpath("staging").iterdir()) == []


def test_an_import_inspects_the_staged_bytes_again(world: World) -> None:
    """Bytes staged before inspection existed (or changed on disk since) are
    refused when imported: nothing stored, nothing left staged, queued."""
    image_id = _create(world)
    stage_image(image_id, [qcow2()], world.app, world.staging, ALICE)
    staged = world.root / "staging" / image_id
    hostile = qcow2(backing="/etc/passwd")
    staged.write_bytes(hostile.ljust(staged.stat().st_size, b"\0"))

    with pytest.raises(ImageDataRefused, match="backing file"):
        import_image(image_id, "glance-direct", world.app, world.store, world.staging, ALICE)

    image = _image(world, image_id)
    assert (image.status, image.staged, image.size) == ("queued", None, None)
    assert not staged.exists()
    assert list(world.root.joinpath("images").iterdir()) == []


def test_an_import_of_safe_staged_bytes_records_what_they_are(world: World) -> None:
    image_id = _create(world)
    stage_image(image_id, [qcow2(virtual_size=GIB)], world.app, world.staging, ALICE)

    import_image(image_id, "glance-direct", world.app, world.store, world.staging, ALICE)

    image = _image(world, image_id)
    assert (image.status, image.detected_format, image.virtual_size) == ("active", "qcow2", GIB)


def test_a_quarantined_image_is_deactivated_and_cannot_be_reactivated(world: World) -> None:
    image_id = _create(world)
    upload_image(image_id, [qcow2()], world.app, world.store, ALICE)
    image = _image(world, image_id)

    image.quarantine("a qcow2 image may not name a backing file", "qcow2", SYSTEM)
    world.app.save(image)

    image = _image(world, image_id)
    assert image.status == "deactivated"
    with pytest.raises(Forbidden, match="safety inspection"):
        image.reactivate(SYSTEM)


def test_inspecting_a_stream_in_pieces_finds_what_the_whole_says() -> None:
    data = qcow2(virtual_size=5 * GIB, tail=bytes(3 << 20))
    whole = inspect_chunks([data], "qcow2")
    assert inspect_chunks(_pieces(data, 1000), "qcow2") == whole
    assert (whole.detected_format, whole.virtual_size) == ("qcow2", 5 * GIB)


def test_every_disk_format_the_api_accepts_has_a_rule() -> None:
    """An upload of any accepted disk_format is judged, never waved through."""
    assert set(ACCEPTED) == set(DISK_FORMATS)
