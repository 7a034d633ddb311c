"""A compute host checks each image it caches before first use, as Nova does
(its "deep inspection"): OpenStack's format inspector reads the header in
Python first, so no tool has opened anything yet; then `qemu-img info`, with
the format named, ``--force-share``, JSON output and Nova's CPU and memory
limits, must agree: the declared format, no backing file, no external data
file, a vmdk's extents only inside the file. Whatever fails is refused with
a short reason that names no host path (docs/image-safety.md)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from commands.image_inspection import inspect_file
from domain.image_safety import ImageDataRefused
from workers.drivers.errors import PermanentDriverError, ShownToOwnerError
from workers.drivers.runner import CommandRunner, Limits, SubprocessRunner

log = logging.getLogger(__name__)

# Nova's limits on qemu-img info (nova/privsep/qemu.py): a crafted header
# must not cost the host more than this.
QEMU_IMG_LIMITS = Limits(cpu_seconds=30, address_space_bytes=1 << 30)
QEMU_IMG_TIMEOUT_S = 60.0
# What qemu calls each disk_format. ISO and AMI kinds are read as raw bytes.
QEMU_FORMATS = {
    "raw": "raw",
    "qcow2": "qcow2",
    "vmdk": "vmdk",
    "vhd": "vpc",
    "vhdx": "vhdx",
    "vdi": "vdi",
    "iso": "raw",
    "ami": "raw",
    "aki": "raw",
    "ari": "raw",
}
VMDK_TYPES = ("monolithicSparse", "streamOptimized")  # Nova's vmdk_allowed_types


class UnsafeImageError(ShownToOwnerError):
    """The image is not safe to give to qemu-img or QEMU: never retried."""

    def __init__(self, image_id: str, reason: str) -> None:
        super().__init__(f"image {image_id} is not safe to use: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class HostInspection:
    """What the host found: the format qemu names it, and its virtual size."""

    qemu_format: str
    virtual_size: int


class ImageInspector(Protocol):
    """Judges an image file on a compute host before anything opens it."""

    def check(self, image_id: str, path: Path, disk_format: str) -> HostInspection:
        """What the file at ``path`` is, read as ``disk_format``; raises
        UnsafeImageError if it is another format, names another file (backing
        file, data file, extents) or cannot be read safely."""
        ...


class QemuImgInspector:
    """ImageInspector with oslo.utils' inspector, then `qemu-img info`."""

    def __init__(self, runner: CommandRunner | None = None) -> None:
        self._runner = runner or SubprocessRunner()

    def check(self, image_id: str, path: Path, disk_format: str) -> HostInspection:
        qemu_format = QEMU_FORMATS.get(disk_format)
        if qemu_format is None:
            raise UnsafeImageError(image_id, f"disk_format {disk_format!r} is not supported")
        try:
            inspect_file(path, disk_format)
        except ImageDataRefused as exc:
            raise UnsafeImageError(image_id, exc.reason) from None
        except OSError as exc:
            raise PermanentDriverError(f"cannot read image {image_id}: {exc.strerror}") from None
        info = self._info(image_id, path, qemu_format)
        return HostInspection(qemu_format, judge(image_id, path, qemu_format, info))

    def _info(self, image_id: str, path: Path, qemu_format: str) -> dict[str, Any]:
        argv = ["qemu-img", "info", "--force-share", "-f", qemu_format, "--output=json", str(path)]
        done = self._runner.run(
            argv, check=False, timeout=QEMU_IMG_TIMEOUT_S, limits=QEMU_IMG_LIMITS
        )
        if not done.ok:
            log.warning("qemu-img info on image %s failed: %s", image_id, done.stderr.strip())
            raise UnsafeImageError(image_id, f"it cannot be read as {qemu_format}")
        try:
            info = json.loads(done.stdout)
        except ValueError:
            raise UnsafeImageError(image_id, "qemu-img could not describe it") from None
        if not isinstance(info, dict):
            raise UnsafeImageError(image_id, "qemu-img could not describe it")
        return info


def judge(image_id: str, path: Path, qemu_format: str, info: dict[str, Any]) -> int:
    """The virtual size `qemu-img info` reports, if what it reports is safe."""
    if info.get("format") != qemu_format:
        raise UnsafeImageError(image_id, f"qemu-img reads it as {info.get('format')!r}")
    if "backing-filename" in info or "full-backing-filename" in info:
        raise UnsafeImageError(image_id, "it names a backing file")
    specific = info.get("format-specific") or {}
    data = (specific.get("data") or {}) if isinstance(specific, dict) else {}
    if not isinstance(data, dict):
        raise UnsafeImageError(image_id, "qemu-img could not describe it")
    if data.get("data-file") is not None:
        raise UnsafeImageError(image_id, "it names an external data file")
    if qemu_format == "vmdk":
        _judge_vmdk(image_id, path, data)
    size = info.get("virtual-size")
    if not isinstance(size, int) or size < 0:
        raise UnsafeImageError(image_id, "qemu-img found no virtual size")
    return size


def _judge_vmdk(image_id: str, path: Path, data: dict[str, Any]) -> None:
    if data.get("create-type") not in VMDK_TYPES:
        raise UnsafeImageError(image_id, "only monolithicSparse and streamOptimized vmdk are used")
    extents = data.get("extents") or []
    names = {Path(str(e.get("filename", ""))).name for e in extents if isinstance(e, dict)}
    if len(extents) == 0 or names != {path.name}:
        raise UnsafeImageError(image_id, "its vmdk extents are not inside the file")
