"""The backing files of volumes and snapshots: one sparse raw file each under
a state directory, made whole or not at all (a temp file renamed), and
zeroed before it is removed so no later volume can read a tenant's bytes."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from workers.drivers.errors import PermanentDriverError
from workers.drivers.runner import CommandRunner, Limits

IMAGE_FORMATS = frozenset({"raw", "qcow2"})
SECTOR = 512
CHUNK = 1 << 20
# As Nova limits `qemu-img info` on an image a tenant uploaded.
QEMU_IMG_LIMITS = Limits(cpu_seconds=30, address_space_bytes=1 << 30)
CONVERT_TIMEOUT_S = 3600.0


class VolumeFiles:
    """Volume and snapshot files under ``root`` (named ``volume-<uuid>`` and
    ``snapshot-<uuid>``).

    Every ``ensure_*`` is idempotent: a file that exists is kept as it is
    and returned; a crash part-way leaves no file (only a dotted temp file,
    which listings skip). Sizes are bytes, positive multiples of 512. Ids
    must be uuids. Everything raises PermanentDriverError on bad input or a
    failed tool, with the file left absent."""

    def __init__(self, root: Path, runner: CommandRunner) -> None:
        self._root = Path(os.path.abspath(root))
        self._runner = runner

    def volume_path(self, volume_id: str) -> Path:
        return self._root / f"volume-{_uuid(volume_id)}"

    def snapshot_path(self, snapshot_id: str) -> Path:
        return self._root / f"snapshot-{_uuid(snapshot_id)}"

    def size_of(self, path: Path) -> int | None:
        """The size of a file of this store in bytes; None if it does not exist."""
        try:
            return self._own(path).stat().st_size
        except FileNotFoundError:
            return None

    def ensure_blank(self, volume_id: str, size_bytes: int) -> Path:
        """A volume file of `size_bytes` that reads as zeros (sparse: no blocks)."""
        _check_size(size_bytes)
        return self._publish(self.volume_path(volume_id), lambda tmp: _grow(tmp, size_bytes))

    def ensure_copy(self, volume_id: str, source: Path, size_bytes: int) -> Path:
        """A volume file holding the bytes of `source` (another volume or a
        snapshot of this store), grown to `size_bytes`. Raises if `source`
        is not a file of this store or is larger than `size_bytes`."""
        _check_size(size_bytes)
        source = self._own(source)
        have = self.size_of(source)
        if have is None:
            raise PermanentDriverError(f"no source file {source.name}")
        if have > size_bytes:
            raise PermanentDriverError(f"{source.name} holds {have} bytes: more than {size_bytes}")

        def copy(tmp: Path) -> None:
            self._runner.run(["cp", "--sparse=always", "--", str(source), str(tmp)], timeout=3600)
            _grow(tmp, size_bytes)

        return self._publish(self.volume_path(volume_id), copy)

    def ensure_snapshot(self, snapshot_id: str, volume_id: str) -> Path:
        """A snapshot file with the volume's bytes as they are now (for a
        volume in use: as a crash would leave them, not frozen)."""
        source = self.volume_path(volume_id)
        size = self.size_of(source)
        if size is None:
            raise PermanentDriverError(f"volume {volume_id} has no file")

        def copy(tmp: Path) -> None:
            self._runner.run(["cp", "--sparse=always", "--", str(source), str(tmp)], timeout=3600)

        return self._publish(self.snapshot_path(snapshot_id), copy)

    def ensure_from_image(
        self, volume_id: str, image: Path, image_format: str, size_bytes: int
    ) -> Path:
        """A volume file holding the disk of an image (a file of the format
        named, never guessed), grown to `size_bytes`. Raises if the image
        names other files (a backing or data file), or its disk is larger
        than `size_bytes`."""
        _check_size(size_bytes)
        if image_format not in IMAGE_FORMATS:
            raise PermanentDriverError(f"cannot make a volume from a {image_format!r} image")
        virtual = self._image_size(image, image_format)
        if virtual > size_bytes:
            raise PermanentDriverError(f"the image's disk is {virtual} bytes: more than the volume")

        def convert(tmp: Path) -> None:
            argv = ["qemu-img", "convert", "-q", "-f", image_format, "-O", "raw"]
            self._runner.run([*argv, str(image), str(tmp)], timeout=CONVERT_TIMEOUT_S)
            _grow(tmp, size_bytes)

        return self._publish(self.volume_path(volume_id), convert)

    def export_as(self, source: Path, dest: Path, image_format: str) -> None:
        """Write a file of this store (a raw volume) to ``dest`` in
        ``image_format`` (an image's disk, uploaded from there)."""
        source = self._own(source)
        if image_format not in IMAGE_FORMATS:
            raise PermanentDriverError(f"cannot write a {image_format!r} image")
        argv = ["qemu-img", "convert", "-q", "-f", "raw", "-O", image_format]
        self._runner.run([*argv, str(source), str(dest)], timeout=CONVERT_TIMEOUT_S)

    def extend(self, volume_id: str, size_bytes: int) -> None:
        """Grow the volume's file to `size_bytes` (the new bytes read as zeros);
        the same size again is fine, a smaller one raises."""
        _check_size(size_bytes)
        path = self.volume_path(volume_id)
        have = self.size_of(path)
        if have is None:
            raise PermanentDriverError(f"volume {volume_id} has no file")
        if have > size_bytes:
            raise PermanentDriverError(f"volume {volume_id} cannot shrink to {size_bytes} bytes")
        with _os_errors(f"cannot extend {path.name}"):
            os.truncate(path, size_bytes)

    def ensure_deleted(self, path: Path) -> None:
        """Zero every byte of a file of this store, check it reads as zeros,
        then remove it. A file that is gone already is fine."""
        path = self._own(path)
        size = self.size_of(path)
        if size is None:
            return
        if size:
            # Zeroes the range whatever the filesystem, without writing a GiB
            # of zeros: the blocks become unwritten extents that read as 0.
            argv = ["fallocate", "--zero-range", "--offset", "0", "--length", str(size)]
            self._runner.run([*argv, str(path)], timeout=600)
            _check_zeroed(path)
        with _os_errors(f"cannot remove {path.name}"):
            path.unlink(missing_ok=True)
            _fsync(self._root)

    def _image_size(self, image: Path, image_format: str) -> int:
        argv = ["qemu-img", "info", "--output=json", "-f", image_format, str(image)]
        done = self._runner.run(argv, timeout=60, limits=QEMU_IMG_LIMITS)
        try:
            info = json.loads(done.stdout)
            size = int(info["virtual-size"])
        except (ValueError, KeyError, TypeError):
            raise PermanentDriverError(f"qemu-img cannot read the image {image.name}") from None
        data_file = info.get("format-specific", {}).get("data", {}).get("data-file")
        if info.get("backing-filename") or info.get("full-backing-filename") or data_file:
            raise PermanentDriverError("the image names another file (backing or data file)")
        return size

    def _publish(self, path: Path, write: Callable[[Path], None]) -> Path:
        if path.exists():
            return path
        with _os_errors(f"cannot create {self._root}"):
            self._root.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            write(temp)
            with _os_errors(f"cannot publish {path.name}"):
                _fsync(temp)
                os.replace(temp, path)
                _fsync(self._root)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
        return path

    def _own(self, path: Path) -> Path:
        """`path` if it names a file directly in this store."""
        path = Path(os.path.abspath(path))
        if path.parent != self._root or path.name.startswith("."):
            raise PermanentDriverError(f"{path} is not a file of this volume store")
        return path


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise PermanentDriverError(f"not a uuid: {value!r}") from None


def _check_size(size_bytes: int) -> None:
    if size_bytes <= 0 or size_bytes % SECTOR:
        raise PermanentDriverError(f"invalid volume size {size_bytes} (a positive multiple of 512)")


def _grow(path: Path, size_bytes: int) -> None:
    with _os_errors(f"cannot size {path.name}"):
        with open(path, "ab"):
            pass
        if path.stat().st_size < size_bytes:
            os.truncate(path, size_bytes)


def _check_zeroed(path: Path) -> None:
    """Read back every part of the file that holds data (holes read as zeros
    by definition) and raise if a byte is not zero."""
    with _os_errors(f"cannot read back {path.name}"), open(path, "rb") as file:
        for start, end in _data_extents(file.fileno()):
            file.seek(start)
            left = end - start
            while left > 0:
                chunk = file.read(min(CHUNK, left))
                if not chunk:
                    break
                if chunk.strip(b"\0"):
                    raise PermanentDriverError(f"{path.name} still holds data after zeroing")
                left -= len(chunk)


def _data_extents(fd: int) -> Iterator[tuple[int, int]]:
    end = os.fstat(fd).st_size
    offset = 0
    while offset < end:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole is left
            return
        stop = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, stop
        offset = stop


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _os_errors(what: str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise PermanentDriverError(f"{what}: {error.strerror}") from None
