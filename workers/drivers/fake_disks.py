"""DiskStore that writes small placeholder files instead of running qemu-img."""

from __future__ import annotations

from pathlib import Path

from workers.drivers.disks import (
    EPHEMERAL_DISK,
    ROOT_DISK,
    list_disks,
    os_errors,
    remove_tree,
    restore_stashed_disks,
    stash_disks,
    stash_path,
    validate_disk_request,
    validate_id,
)
from workers.drivers.errors import DriverError, PermanentDriverError
from workers.drivers.hypervisor import BackingFile, DiskSpec


class FakeDiskStore:
    """DiskStore of real (tiny) files under `root`; can fail the next call."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()
        self._next_error: DriverError | None = None

    def fail_next(self, error: DriverError) -> None:
        """Make the next call of any DiskStore method raise `error`, once."""
        self._next_error = error

    def ensure_instance_disks(
        self,
        instance_id: str,
        base_image: Path,
        base_format: str,
        root_gb: int,
        ephemeral_gb: int,
    ) -> tuple[DiskSpec, ...]:
        self._raise_if_told()
        directory = self._root / validate_id(instance_id)
        validate_disk_request(base_format, root_gb, ephemeral_gb)
        if not base_image.is_file():
            raise PermanentDriverError(f"base image {base_image} does not exist")
        directory.mkdir(parents=True, exist_ok=True)

        root = directory / ROOT_DISK
        # The content says what qemu-img would have made, for test failures.
        _write_once(root, f"overlay {base_image.resolve()} {base_format} {root_gb}G")
        overlay = root.read_text().startswith("overlay ")  # not a resize's adopted root
        backing = BackingFile(str(base_image.resolve()), base_format) if overlay else None
        disks = [DiskSpec(str(root), "vda", backing=backing)]
        if ephemeral_gb > 0:
            ephemeral = directory / EPHEMERAL_DISK
            _write_once(ephemeral, f"blank {ephemeral_gb}G")
            disks.append(DiskSpec(str(ephemeral), "vdb"))
        return tuple(disks)

    def purge_instance_disks(self, instance_id: str) -> None:
        self._raise_if_told()
        remove_tree(self._root / validate_id(instance_id))

    def instance_disks(self, instance_id: str) -> list[Path]:
        self._raise_if_told()
        return list_disks(self._root / validate_id(instance_id))

    def export_root(self, instance_id: str, dest: Path) -> None:
        self._raise_if_told()
        root = self._root / validate_id(instance_id) / ROOT_DISK
        if not root.is_file():
            raise PermanentDriverError(f"instance {instance_id} has no root disk")
        with os_errors(f"cannot write {dest}"):
            dest.write_text(f"snapshot of {root.read_text().strip()}\n")

    def adopt_root(
        self, instance_id: str, root_image: Path, root_gb: int, ephemeral_gb: int
    ) -> tuple[DiskSpec, ...]:
        self._raise_if_told()
        directory = self._root / validate_id(instance_id)
        validate_disk_request("qcow2", root_gb, ephemeral_gb)
        root = directory / ROOT_DISK
        if not root.exists():
            if not root_image.is_file():
                raise PermanentDriverError(f"root disk {root_image} to adopt does not exist")
            directory.mkdir(parents=True, exist_ok=True)
            _write_once(root, f"adopted {root_image.read_text().strip()} {root_gb}G")
        disks = [DiskSpec(str(root), "vda")]
        if ephemeral_gb > 0:
            ephemeral = directory / EPHEMERAL_DISK
            _write_once(ephemeral, f"blank {ephemeral_gb}G")
            disks.append(DiskSpec(str(ephemeral), "vdb"))
        return tuple(disks)

    def stash_disks(self, instance_id: str) -> None:
        self._raise_if_told()
        stash_disks(self._root, instance_id)

    def restore_stashed_disks(self, instance_id: str) -> None:
        self._raise_if_told()
        restore_stashed_disks(self._root, instance_id)

    def drop_stashed_disks(self, instance_id: str) -> None:
        self._raise_if_told()
        remove_tree(stash_path(self._root, instance_id))

    def _raise_if_told(self) -> None:
        error, self._next_error = self._next_error, None
        if error is not None:
            raise error


def _write_once(path: Path, content: str) -> None:
    if not path.exists():
        with os_errors(f"cannot write {path}"):
            path.write_text(content + "\n")
