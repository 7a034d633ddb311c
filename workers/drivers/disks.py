"""Disk store driver: per-instance qcow2 disks on the host's cached base images
(the cache itself is workers/drivers/image_cache.py)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from workers.drivers.errors import PermanentDriverError
from workers.drivers.hypervisor import DISK_FORMATS, BackingFile, DiskSpec
from workers.drivers.runner import CommandRunner, SubprocessRunner

IMAGE_DIR = "_base"
TEMPLATE_DIR = "_templates"
STASH_DIR = "_resize"  # an instance's disks from before a resize (Nova's <dir>_resize)
ROOT_DISK = "disk"
EPHEMERAL_DISK = "disk.eph0"

# Ids become file names under the store root: lower-case hex and hyphens
# only, never a leading hyphen, so no id can escape the root or look like
# a command-line option.
_ID = re.compile(r"[0-9a-f][0-9a-f-]{0,63}")
# qemu-img creating a small file; copying a whole disk takes as long as its size.
CREATE_TIMEOUT_S = 60.0
COPY_TIMEOUT_S = 3600.0


class DiskStore(Protocol):
    """Keeps the disks of the instances on one compute host, backed by the
    base images of its ImageCache.

    Every method is idempotent. Ids must be uuid-ish (lower-case hex digits
    and hyphens); any other id raises PermanentDriverError before anything
    touches the disk. Filesystem and qemu-img failures raise
    PermanentDriverError.
    """

    def ensure_instance_disks(
        self,
        instance_id: str,
        base_image: Path,
        base_format: str,
        root_gb: int,
        ephemeral_gb: int,
    ) -> tuple[DiskSpec, ...]:
        """Create the instance's missing disks and return all it should have.

        vda: a qcow2 copy-on-write overlay on `base_image` (of `base_format`,
        "qcow2" or "raw", named as its ``backing``) with a virtual size of
        `root_gb` GiB, or the base's size if `root_gb` is 0. The base must
        have passed the host's inspection (it backs nothing else). vdb: an
        empty qcow2 of `ephemeral_gb` GiB,
        only if `ephemeral_gb` > 0. Disks that exist already are kept as they
        are. Raises PermanentDriverError if the base image is missing, the
        format or a size is invalid, or a disk cannot be created.
        """
        ...

    def purge_instance_disks(self, instance_id: str) -> None:
        """Delete every disk of the instance; nothing to delete is fine.

        Cached base images are kept. Raises PermanentDriverError if the
        files cannot be removed.
        """
        ...

    def instance_disks(self, instance_id: str) -> list[Path]:
        """Return the instance's disk files that exist now, sorted by path."""
        ...

    def export_root(self, instance_id: str, dest: Path) -> None:
        """Write the instance's root disk to `dest` as one standalone qcow2
        (its base image folded in): the data of a snapshot image. Raises
        PermanentDriverError if the instance has no root disk."""
        ...

    def adopt_root(
        self, instance_id: str, root_image: Path, root_gb: int, ephemeral_gb: int
    ) -> tuple[DiskSpec, ...]:
        """Give the instance a root disk that is a copy of `root_image` (a
        standalone qcow2, as export_root writes), grown to `root_gb` GiB if
        that is more, and an empty ephemeral disk when `ephemeral_gb` > 0: the
        disks of a resized instance on its new host. Disks that exist are kept
        as they are. Raises PermanentDriverError if `root_image` is missing
        and the instance has no root disk yet."""
        ...

    def stash_disks(self, instance_id: str) -> None:
        """Move the instance's disks aside, where a revert finds them again;
        nothing to move (they are stashed already) is fine."""
        ...

    def restore_stashed_disks(self, instance_id: str) -> None:
        """Put the stashed disks back in place of any the instance has now.
        Raises PermanentDriverError if neither stashed nor current disks exist."""
        ...

    def drop_stashed_disks(self, instance_id: str) -> None:
        """Delete the stashed disks; none is fine."""
        ...


def stash_path(root: Path, instance_id: str) -> Path:
    return root / STASH_DIR / validate_id(instance_id)


def stash_disks(root: Path, instance_id: str) -> None:
    """The file moves every DiskStore shares: one rename, so a crash leaves
    the disks either in place or stashed."""
    live, stash = root / validate_id(instance_id), stash_path(root, instance_id)
    if live.exists() and not stash.exists():
        with os_errors(f"cannot stash {live}"):
            stash.parent.mkdir(parents=True, exist_ok=True)
            os.replace(live, stash)


def restore_stashed_disks(root: Path, instance_id: str) -> None:
    live, stash = root / validate_id(instance_id), stash_path(root, instance_id)
    if not stash.exists():
        if not list_disks(live):
            raise PermanentDriverError(f"instance {instance_id} has no stashed disks")
        return  # restored already
    remove_tree(live)
    with os_errors(f"cannot restore {stash}"):
        os.replace(stash, live)


def validate_id(value: str) -> str:
    """Return `value` if it is safe as a file name; else PermanentDriverError."""
    if not _ID.fullmatch(value):
        raise PermanentDriverError(f"invalid id for a disk store: {value!r}")
    return value


def validate_disk_request(base_format: str, root_gb: int, ephemeral_gb: int) -> None:
    """Raise PermanentDriverError for a format or size no store accepts."""
    if base_format not in DISK_FORMATS:
        raise PermanentDriverError(f"unsupported base image format {base_format!r}")
    if root_gb < 0 or ephemeral_gb < 0:
        raise PermanentDriverError("disk sizes must not be negative")


def overlay_argv(base: Path, base_format: str, path: Path, size_gb: int) -> list[str]:
    """qemu-img argv for a qcow2 overlay on `base`; size 0 keeps the base's."""
    argv = ["qemu-img", "create", "-f", "qcow2"]
    argv += ["-b", str(base), "-F", base_format, str(path)]
    return [*argv, f"{size_gb}G"] if size_gb > 0 else argv


def blank_argv(path: Path, size_gb: int) -> list[str]:
    """qemu-img argv for an empty qcow2 disk of `size_gb` GiB."""
    return ["qemu-img", "create", "-f", "qcow2", str(path), f"{size_gb}G"]


def qcow2_backing_name(path: Path) -> str | None:
    """The backing file a qcow2 of ours names in its header (None: standalone).
    Read here rather than with qemu-img: one small read on the boot path."""
    with os_errors(f"cannot read {path}"), path.open("rb") as f:
        header = f.read(20)
        if len(header) < 20 or header[:4] != b"QFI\xfb":
            raise PermanentDriverError("an instance disk is not a qcow2")
        offset, length = struct.unpack(">QI", header[8:20])
        if offset == 0:
            return None
        f.seek(offset)
        return f.read(min(length, 4096)).decode(errors="replace")


def _root_backing(root: Path, base: Path, base_format: str) -> BackingFile | None:
    """What the root disk backs onto, as the domain must name it: the base
    image, or nothing (a resized instance's root is standalone). Any other
    backing file is refused: the only ones we make are base images."""
    named = qcow2_backing_name(root)
    if named is None:
        return None
    if named != str(base):
        raise PermanentDriverError("an instance's root disk backs onto another file than its image")
    return BackingFile(str(base), base_format)


def export_argv(root: Path, dest: Path) -> list[str]:
    """qemu-img argv folding the root disk (a qcow2, and the base it names)
    into one standalone qcow2. -U: a paused QEMU guest still holds its disk's
    write lock."""
    return ["qemu-img", "convert", "-q", "-U", "-f", "qcow2", "-O", "qcow2", str(root), str(dest)]


def resize_argv(path: Path, size_gb: int) -> list[str]:
    """qemu-img argv growing a standalone qcow2 (it refuses to shrink without --shrink)."""
    return ["qemu-img", "resize", "-q", "-f", "qcow2", str(path), f"{size_gb}G"]


@contextlib.contextmanager
def os_errors(what: str) -> Iterator[None]:
    """Turn filesystem failures into PermanentDriverError."""
    try:
        yield
    except OSError as error:
        raise PermanentDriverError(f"{what}: {error}") from error


def publish_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Have `write` fill a temp file next to `path`, then rename it to `path`.

    A crash at any point leaves either no `path` or a complete one; the temp
    name starts with a dot so listings skip leftovers.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        write(temp)
        if not temp.is_file():
            raise PermanentDriverError(f"nothing was written for {path}")
        with os_errors(f"cannot publish {path}"):
            _fsync(temp)
            os.replace(temp, path)
            # The rename itself only survives a power cut once the
            # directory is synced.
            _fsync(path.parent)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_disks(directory: Path) -> list[Path]:
    """Return the finished files in `directory` ([] if it does not exist)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if not p.name.startswith("."))


def remove_tree(directory: Path) -> None:
    """Delete `directory` and its content; a missing one is fine."""
    with os_errors(f"cannot purge {directory}"), contextlib.suppress(FileNotFoundError):
        shutil.rmtree(directory)


class QemuImgDiskStore:
    """DiskStore of qcow2 files under a root folder, made with qemu-img once per
    shape and copied for each instance.

    Every new overlay of one base image at one size is the same file (it
    records only the base's path and the virtual size) until its guest writes
    to it, and so is every blank disk of one size. So qemu-img makes each such
    file once, as a template, and an instance's disk is a copy of it: a file
    copy instead of a qemu-img process per disk."""

    def __init__(self, root: Path, runner: CommandRunner | None = None) -> None:
        self._root = root.resolve()
        self._runner = runner or SubprocessRunner()

    def _run(self, argv: list[str], timeout: float = CREATE_TIMEOUT_S) -> None:
        """Run qemu-img; CommandFailed (a PermanentDriverError) if it fails."""
        self._runner.run(argv, timeout=timeout)

    def ensure_instance_disks(
        self,
        instance_id: str,
        base_image: Path,
        base_format: str,
        root_gb: int,
        ephemeral_gb: int,
    ) -> tuple[DiskSpec, ...]:
        directory = self._root / validate_id(instance_id)
        validate_disk_request(base_format, root_gb, ephemeral_gb)
        # Absolute, because qemu-img resolves a relative backing file against
        # the overlay's folder and records it in the overlay.
        base = base_image.resolve()
        if not base.is_file():
            raise PermanentDriverError(f"base image {base} does not exist")
        with os_errors(f"cannot create {directory}"):
            directory.mkdir(parents=True, exist_ok=True)

        root = directory / ROOT_DISK
        if not root.exists():
            self._copy_template(
                root,
                f"{base.name}.{base_format}.{root_gb}G",
                lambda tmp: self._run(overlay_argv(base, base_format, tmp, root_gb)),
            )
        vda = DiskSpec(str(root), "vda", backing=_root_backing(root, base, base_format))
        return (vda, *self._ephemeral(directory, ephemeral_gb))

    def _copy_template(self, path: Path, template_name: str, make: Callable[[Path], None]) -> None:
        """Publish ``path`` as a copy of the named template, made first if needed."""
        template = self._root / TEMPLATE_DIR / template_name
        if not template.exists():
            with os_errors(f"cannot create {template.parent}"):
                template.parent.mkdir(parents=True, exist_ok=True)
            publish_atomically(template, make)

        def copy(tmp: Path) -> None:
            with os_errors(f"cannot copy {template} to {tmp}"):
                shutil.copyfile(template, tmp)

        publish_atomically(path, copy)

    def purge_instance_disks(self, instance_id: str) -> None:
        remove_tree(self._root / validate_id(instance_id))

    def instance_disks(self, instance_id: str) -> list[Path]:
        return list_disks(self._root / validate_id(instance_id))

    def export_root(self, instance_id: str, dest: Path) -> None:
        root = self._root / validate_id(instance_id) / ROOT_DISK
        if not root.is_file():
            raise PermanentDriverError(f"instance {instance_id} has no root disk")
        self._run(export_argv(root, dest), COPY_TIMEOUT_S)

    def adopt_root(
        self, instance_id: str, root_image: Path, root_gb: int, ephemeral_gb: int
    ) -> tuple[DiskSpec, ...]:
        directory = self._root / validate_id(instance_id)
        validate_disk_request("qcow2", root_gb, ephemeral_gb)
        root = directory / ROOT_DISK
        if not root.exists():
            if not root_image.is_file():
                raise PermanentDriverError(f"root disk {root_image} to adopt does not exist")
            with os_errors(f"cannot create {directory}"):
                directory.mkdir(parents=True, exist_ok=True)

            def copy_and_grow(tmp: Path) -> None:
                with os_errors(f"cannot copy {root_image}"):
                    shutil.copyfile(root_image, tmp)
                if root_gb > 0:
                    self._run(resize_argv(tmp, root_gb))

            publish_atomically(root, copy_and_grow)
        return (DiskSpec(str(root), "vda"), *self._ephemeral(directory, ephemeral_gb))

    def _ephemeral(self, directory: Path, ephemeral_gb: int) -> tuple[DiskSpec, ...]:
        if ephemeral_gb <= 0:
            return ()
        ephemeral = directory / EPHEMERAL_DISK
        if not ephemeral.exists():
            self._copy_template(
                ephemeral,
                f"blank.{ephemeral_gb}G",
                lambda tmp: self._run(blank_argv(tmp, ephemeral_gb)),
            )
        return (DiskSpec(str(ephemeral), "vdb"),)

    def stash_disks(self, instance_id: str) -> None:
        stash_disks(self._root, instance_id)

    def restore_stashed_disks(self, instance_id: str) -> None:
        restore_stashed_disks(self._root, instance_id)

    def drop_stashed_disks(self, instance_id: str) -> None:
        remove_tree(stash_path(self._root, instance_id))
