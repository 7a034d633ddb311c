"""A compute host's image cache: each image fetched once, verified against the
ledger's hash while it is written, inspected before its first use (a crafted
header must never be followed, workers/drivers/image_safety.py), and removed
once unused for long enough."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from workers.drivers.disks import (
    IMAGE_DIR,
    TEMPLATE_DIR,
    os_errors,
    publish_atomically,
    validate_id,
)
from workers.drivers.errors import TransientDriverError
from workers.drivers.image_safety import ImageInspector, QemuImgInspector, UnsafeImageError

VERIFIED = ".verified"  # the sidecar's suffix; ids never contain a dot
# A spawn refreshes an image's last use at most this often (one utime per spawn
# would be cheap, but none is cheaper; the age limit is hours, not seconds).
TOUCH_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class ImageDigest:
    """What an image's bytes are, as the ledger recorded them at upload."""

    size: int
    sha512: str | None = None  # os_hash_value, when os_hash_algo is sha512
    md5: str | None = None  # checksum: used only when there is no sha512

    def hasher(self) -> tuple[str, hashlib._Hash | None]:
        if self.sha512:
            return self.sha512, hashlib.sha512()
        if self.md5:
            return self.md5, hashlib.md5(usedforsecurity=False)
        return "", None


@dataclass(frozen=True)
class CachedImage:
    """One image in a host's cache: its size and when an instance last used it."""

    image_id: str
    size: int
    last_used: float  # seconds since the epoch


class Sink(Protocol):
    """Where a fetch writes the image's bytes, in order."""

    def write(self, data: bytes, /) -> int: ...


Fetch = Callable[[Sink], None]


class ImageCache(Protocol):
    """The base images of one compute host.

    Ids must be uuid-ish (lower-case hex and hyphens); any other raises
    PermanentDriverError before anything touches the disk. Filesystem
    failures raise PermanentDriverError.
    """

    def ensure(self, image_id: str, digest: ImageDigest, fetch: Fetch, disk_format: str) -> Path:
        """Return the path of a verified copy of the image, fetching it first
        when there is none, or when the file is not the one verified (partial,
        changed, or without its record). `fetch(sink)` writes the bytes; they
        are hashed as they arrive and the copy is published only if size and
        hash match `digest`, else TransientDriverError (a transfer gone wrong
        is worth another try) and nothing is cached.
        Before its first use by this process (fetched now or found cached),
        the file is inspected as `disk_format`; an unsafe one is removed and
        UnsafeImageError (a PermanentDriverError) raised.
        Errors raised by `fetch` propagate (nothing is cached)."""
        ...

    def entries(self) -> list[CachedImage]:
        """Every verified image in the cache, sorted by id."""
        ...

    def mark_used(self, image_id: str, when: float) -> None:
        """Record that an instance uses the image at `when`; absent is fine."""
        ...

    def remove(self, image_id: str) -> None:
        """Delete the image, its record and the disk templates made from it;
        absent is fine. The caller makes sure no instance backs onto it."""
        ...

    def sweep(self) -> int:
        """Delete leftovers of fetches that never finished (a crash mid-fetch);
        call it only while no fetch runs. Returns how many files went."""
        ...


class _VerifyingSink:
    """Writes to the file and hashes on the way: one pass over the bytes."""

    def __init__(self, out: Sink, digest: ImageDigest) -> None:
        self.out, self.digest, self.size = out, digest, 0
        self.expected, self.hash = digest.hasher()

    def write(self, data: bytes, /) -> int:
        self.size += len(data)
        if self.size > self.digest.size:
            raise TransientDriverError(
                f"image is larger than the {self.digest.size} bytes recorded"
            )
        if self.hash is not None:
            self.hash.update(data)
        return self.out.write(data)

    def check(self, image_id: str) -> None:
        if self.size != self.digest.size:
            raise TransientDriverError(
                f"image {image_id}: fetched {self.size} bytes, the ledger says {self.digest.size}"
            )
        if self.hash is not None and self.hash.hexdigest() != self.expected:
            raise TransientDriverError(f"image {image_id}: fetched bytes do not match its hash")


def _inspected_as(stat: os.stat_result, disk_format: str) -> tuple[int, int, int, str]:
    return stat.st_ino, stat.st_ctime_ns, stat.st_size, disk_format


class DirectoryImageCache:
    """ImageCache in ``<root>/_base`` (beside the disk store's instance disks).

    Beside each image, ``<id>.verified`` records the size, hash and mtime it
    was verified with; a spawn trusts the file only while a stat still agrees,
    so a cached image is hashed once, when fetched, never on the boot path.
    The record's own mtime is the image's last use."""

    def __init__(
        self,
        root: Path,
        clock: Callable[[], float] = time.time,
        inspector: ImageInspector | None = None,
    ) -> None:
        self._root = root.resolve()
        self._dir = self._root / IMAGE_DIR
        self._clock = clock
        self._inspector = inspector or QemuImgInspector()
        self._touched: dict[str, float] = {}  # image id -> when this process last marked it
        self._records: dict[str, dict[str, object]] = {}  # verified records, read once
        # image id -> the file (inode, ctime, size) and format this process inspected
        self._inspected: dict[str, tuple[int, int, int, str]] = {}

    def _paths(self, image_id: str) -> tuple[Path, Path]:
        name = validate_id(image_id)
        return self._dir / name, self._dir / f"{name}{VERIFIED}"

    def ensure(self, image_id: str, digest: ImageDigest, fetch: Fetch, disk_format: str) -> Path:
        path, record = self._paths(image_id)
        stat = self._trusted(path, record, digest)
        if stat is not None:
            self._inspect_before_first_use(image_id, path, stat, disk_format)
            now = self._clock()
            if now - self._touched.get(image_id, 0.0) >= TOUCH_EVERY_SECONDS:
                self.mark_used(image_id, now)
            return path
        self._forget(image_id)  # a record must never vouch for other bytes
        with os_errors(f"cannot create {self._dir}"):
            self._dir.mkdir(parents=True, exist_ok=True)

        def write(tmp: Path) -> None:
            with os_errors(f"cannot write {tmp}"), tmp.open("wb") as out:
                sink = _VerifyingSink(out, digest)
                fetch(sink)
                sink.check(image_id)
            self._inspector.check(image_id, tmp, disk_format)  # unsafe: never published

        publish_atomically(path, write)
        stat = path.stat()
        self._inspected[image_id] = _inspected_as(stat, disk_format)
        self._write_record(record, digest, stat.st_mtime_ns)
        self._touched[image_id] = self._clock()
        return path

    def _inspect_before_first_use(
        self, image_id: str, path: Path, stat: os.stat_result, disk_format: str
    ) -> None:
        """A cached file is inspected once per process (cached by an older
        release, or planted): again whenever it changes. The ctime, which
        no one can set back, says so even if the mtime was."""
        seen = _inspected_as(stat, disk_format)
        if self._inspected.get(image_id) == seen:
            return
        try:
            self._inspector.check(image_id, path, disk_format)
        except UnsafeImageError:
            self._forget(image_id)  # nothing unsafe stays on the host
            raise
        self._inspected[image_id] = seen

    def _trusted(self, path: Path, record: Path, digest: ImageDigest) -> os.stat_result | None:
        """The file's stat if its record vouches for it: one stat on the boot
        path (the record is read once per process)."""
        try:
            stat = path.stat()
            saved = self._records.get(path.name) or json.loads(record.read_text())
        except (OSError, ValueError):
            return None
        self._records[path.name] = saved
        trusted = (
            saved.get("size") == stat.st_size == digest.size
            and saved.get("mtime_ns") == stat.st_mtime_ns
            and saved.get("sha512") == digest.sha512
            and saved.get("md5") == digest.md5
        )
        return stat if trusted else None

    def _write_record(self, record: Path, digest: ImageDigest, mtime_ns: int) -> None:
        content: dict[str, object] = {
            "size": digest.size,
            "sha512": digest.sha512,
            "md5": digest.md5,
            "mtime_ns": mtime_ns,
        }

        def write(tmp: Path) -> None:
            with os_errors(f"cannot write {tmp}"):
                tmp.write_text(json.dumps(content))

        publish_atomically(record, write)
        self._records[record.name.removesuffix(VERIFIED)] = content

    def entries(self) -> list[CachedImage]:
        if not self._dir.is_dir():
            return []
        found = []
        for record in sorted(self._dir.glob(f"*{VERIFIED}")):
            image_id = record.name.removesuffix(VERIFIED)
            with contextlib.suppress(OSError):
                found.append(
                    CachedImage(
                        image_id, (self._dir / image_id).stat().st_size, record.stat().st_mtime
                    )
                )
        return found

    def mark_used(self, image_id: str, when: float) -> None:
        _, record = self._paths(image_id)
        with contextlib.suppress(FileNotFoundError), os_errors(f"cannot touch {record}"):
            os.utime(record, (when, when))
            self._touched[image_id] = when

    def remove(self, image_id: str) -> None:
        self._forget(image_id)
        templates = self._root / TEMPLATE_DIR
        with os_errors(f"cannot remove the templates of {image_id}"):
            for template in templates.glob(f"{image_id}.*") if templates.is_dir() else ():
                template.unlink(missing_ok=True)

    def _forget(self, image_id: str) -> None:
        path, record = self._paths(image_id)
        self._touched.pop(image_id, None)
        self._records.pop(image_id, None)
        self._inspected.pop(image_id, None)
        with os_errors(f"cannot remove {path}"):
            record.unlink(missing_ok=True)  # first: a file without its record is never used
            path.unlink(missing_ok=True)

    def sweep(self) -> int:
        if not self._dir.is_dir():
            return 0
        removed = 0
        with os_errors(f"cannot sweep {self._dir}"):
            for leftover in self._dir.glob(".*.part"):
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed
