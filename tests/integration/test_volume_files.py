"""Volume backing files (workers/drivers/volume_files.py) on the real
filesystem with the real tools (cp, qemu-img, fallocate): sparse, made whole
or not at all, copied, grown, filled from an image, and zeroed before they go
(proved by reading the bytes back through a second link to the same file)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from workers.drivers.errors import PermanentDriverError
from workers.drivers.runner import SubprocessRunner
from workers.drivers.volume_files import VolumeFiles

VOLUME = "0e9d4c1a-6b2f-4c3d-9e8f-7a6b5c4d3e2f"
CLONE = "7d3c2b1a-0f9e-4d8c-b7a6-5e4d3c2b1a09"
SNAPSHOT = "5b7e0c1d-2a3f-4e5d-8c9b-0a1b2c3d4e5f"
MIB = 1 << 20


@pytest.fixture
def files(tmp_path: Path) -> VolumeFiles:
    return VolumeFiles(tmp_path / "volumes", SubprocessRunner())


def _write(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as file:
        file.seek(offset)
        file.write(data)


def _read(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as file:
        file.seek(offset)
        return file.read(size)


def test_a_blank_volume_is_sparse_of_its_size_and_reads_as_zeros(files: VolumeFiles) -> None:
    path = files.ensure_blank(VOLUME, 1 << 30)

    assert path.name == f"volume-{VOLUME}"
    assert path.stat().st_size == 1 << 30
    assert path.stat().st_blocks == 0  # no block allocated
    assert _read(path, 512 * MIB, 4096) == bytes(4096)


def test_an_existing_volume_is_kept_as_it_is(files: VolumeFiles) -> None:
    path = files.ensure_blank(VOLUME, 8 * MIB)
    _write(path, 0, b"tenant data")

    again = files.ensure_blank(VOLUME.upper(), 16 * MIB)

    assert again == path and path.stat().st_size == 8 * MIB
    assert _read(path, 0, 11) == b"tenant data"


def test_a_clone_has_the_source_bytes_and_grows_to_its_size(files: VolumeFiles) -> None:
    source = files.ensure_blank(VOLUME, 8 * MIB)
    _write(source, 3 * MIB, b"cloned bytes")

    clone = files.ensure_copy(CLONE, source, 16 * MIB)

    assert clone.stat().st_size == 16 * MIB
    assert _read(clone, 3 * MIB, 12) == b"cloned bytes"
    assert clone.stat().st_blocks * 512 < 1 * MIB  # holes stayed holes


def test_a_clone_smaller_than_its_source_is_refused(files: VolumeFiles) -> None:
    source = files.ensure_blank(VOLUME, 16 * MIB)

    with pytest.raises(PermanentDriverError, match="more than"):
        files.ensure_copy(CLONE, source, 8 * MIB)

    assert files.size_of(files.volume_path(CLONE)) is None


def test_a_clone_source_outside_the_store_is_refused(files: VolumeFiles, tmp_path: Path) -> None:
    outside = tmp_path / "secret-host-file"
    outside.write_bytes(b"host data")

    for source in (outside, Path("/etc/passwd"), files.volume_path(VOLUME).parent / ".." / "x"):
        with pytest.raises(PermanentDriverError):
            files.ensure_copy(CLONE, source, 8 * MIB)

    assert files.size_of(files.volume_path(CLONE)) is None


def test_a_snapshot_keeps_the_bytes_of_its_moment(files: VolumeFiles) -> None:
    volume = files.ensure_blank(VOLUME, 8 * MIB)
    _write(volume, 0, b"before")

    snapshot = files.ensure_snapshot(SNAPSHOT, VOLUME)
    _write(volume, 0, b"after!")

    assert snapshot.name == f"snapshot-{SNAPSHOT}"
    assert _read(snapshot, 0, 6) == b"before"
    restored = files.ensure_copy(CLONE, snapshot, 8 * MIB)
    assert _read(restored, 0, 6) == b"before"


def test_extend_grows_with_zeros_and_never_shrinks(files: VolumeFiles) -> None:
    path = files.ensure_blank(VOLUME, 8 * MIB)
    _write(path, 8 * MIB - 4, b"tail")

    files.extend(VOLUME, 16 * MIB)
    files.extend(VOLUME, 16 * MIB)  # again: fine

    assert path.stat().st_size == 16 * MIB
    assert _read(path, 8 * MIB - 4, 8) == b"tail\0\0\0\0"
    with pytest.raises(PermanentDriverError, match="cannot shrink"):
        files.extend(VOLUME, 4 * MIB)


@pytest.mark.parametrize("image_format", ["raw", "qcow2"])
def test_a_volume_from_an_image_holds_its_disk(
    files: VolumeFiles, tmp_path: Path, image_format: str
) -> None:
    raw = tmp_path / "image.raw"
    with raw.open("wb") as file:
        file.truncate(4 * MIB)
    _write(raw, 2 * MIB, b"image content")
    image = raw
    if image_format == "qcow2":
        image = tmp_path / "image.qcow2"
        argv = ["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(image)]
        subprocess.run(argv, check=True)

    path = files.ensure_from_image(VOLUME, image, image_format, 16 * MIB)

    assert path.stat().st_size == 16 * MIB
    assert _read(path, 2 * MIB, 13) == b"image content"


def test_an_image_naming_a_backing_file_is_refused(files: VolumeFiles, tmp_path: Path) -> None:
    # A crafted qcow2 whose backing file is a host file: converting it
    # would copy the host file into the tenant's volume.
    host_file = tmp_path / "host-secret"
    host_file.write_bytes(b"host secret".ljust(MIB, b"\0"))
    crafted = tmp_path / "crafted.qcow2"
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(host_file), "-F", "raw"]
    subprocess.run([*argv, str(crafted), "1M"], check=True)

    with pytest.raises(PermanentDriverError, match="names another file"):
        files.ensure_from_image(VOLUME, crafted, "qcow2", 8 * MIB)

    assert files.size_of(files.volume_path(VOLUME)) is None


def test_an_image_larger_than_the_volume_or_of_an_unknown_format_is_refused(
    files: VolumeFiles, tmp_path: Path
) -> None:
    image = tmp_path / "image.raw"
    with image.open("wb") as file:
        file.truncate(16 * MIB)

    with pytest.raises(PermanentDriverError, match="more than the volume"):
        files.ensure_from_image(VOLUME, image, "raw", 8 * MIB)
    with pytest.raises(PermanentDriverError, match="vmdk"):
        files.ensure_from_image(VOLUME, image, "vmdk", 16 * MIB)

    folder = files.volume_path(VOLUME).parent
    assert not folder.exists() or list(folder.iterdir()) == []  # no leftover temp file


def test_delete_zeroes_every_byte_before_the_file_goes(files: VolumeFiles, tmp_path: Path) -> None:
    path = files.ensure_blank(VOLUME, 64 * MIB)
    secret = b"tenant A's data " * 256
    for offset in (0, 17 * MIB + 512, 64 * MIB - len(secret)):
        _write(path, offset, secret)
    # A second name for the same inode: after the delete it shows what the
    # blocks held when the file was removed.
    witness = tmp_path / "witness"
    os.link(path, witness)

    files.ensure_deleted(path)

    assert not path.exists()
    assert witness.stat().st_size == 64 * MIB
    with witness.open("rb") as file:
        while chunk := file.read(MIB):
            assert not chunk.strip(b"\0"), "a byte of the deleted volume survived"


def test_delete_of_a_snapshot_zeroes_it_too_and_twice_is_fine(
    files: VolumeFiles, tmp_path: Path
) -> None:
    volume = files.ensure_blank(VOLUME, 8 * MIB)
    _write(volume, MIB, b"snapshotted")
    snapshot = files.ensure_snapshot(SNAPSHOT, VOLUME)
    witness = tmp_path / "witness"
    os.link(snapshot, witness)

    files.ensure_deleted(snapshot)
    files.ensure_deleted(snapshot)

    assert _read(witness, MIB, 11) == bytes(11)
    assert _read(volume, MIB, 11) == b"snapshotted"  # the volume is its own file


def test_a_new_volume_never_reads_a_deleted_ones_bytes(files: VolumeFiles) -> None:
    path = files.ensure_blank(VOLUME, 8 * MIB)
    _write(path, 0, b"x" * MIB)
    files.ensure_deleted(path)

    again = files.ensure_blank(VOLUME, 8 * MIB)

    assert _read(again, 0, MIB) == bytes(MIB)


def test_ids_that_are_not_uuids_never_become_paths(files: VolumeFiles) -> None:
    for bad in ("../../etc/passwd", "", "-rf", f"{VOLUME}/x"):
        with pytest.raises(PermanentDriverError):
            files.ensure_blank(bad, 8 * MIB)


def test_sizes_must_be_whole_sectors(files: VolumeFiles) -> None:
    for bad in (0, -512, 1000):
        with pytest.raises(PermanentDriverError):
            files.ensure_blank(VOLUME, bad)
