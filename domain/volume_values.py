"""Block storage's words: Cinder's statuses, the limits on what a volume may
be, the quota a volume or snapshot holds, and the device names a server's
volumes get."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

from domain.errors import InvalidInput
from domain.values import INT32_MAX, require_text

# Cinder's name for the type every volume has when none is asked for.
DEFAULT_TYPE_NAME = "__DEFAULT__"
MAX_NAME = 255
MAX_DESCRIPTION = 255
MAX_SIZE_GB = INT32_MAX


class VolumeStatus(StrEnum):
    """Cinder's volume statuses (the API shows these values as they are)."""

    CREATING = "creating"
    DOWNLOADING = "downloading"  # copying an image into the new volume
    AVAILABLE = "available"
    RESERVED = "reserved"  # Cinder's attachment API holds one so; reset-status may set it
    ATTACHING = "attaching"
    IN_USE = "in-use"
    DETACHING = "detaching"
    EXTENDING = "extending"
    ERROR_EXTENDING = "error_extending"
    UPLOADING = "uploading"  # os-volume_upload_image: its bytes going to an image
    DELETING = "deleting"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"


class SnapshotStatus(StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"


class AttachStatus(StrEnum):
    """One attachment's progress (Cinder's attach_status)."""

    RESERVED = "reserved"  # asked for at boot, the volume not made yet
    ATTACHING = "attaching"
    ATTACHED = "attached"
    DETACHING = "detaching"


# Where a new volume's bytes come from.
SOURCE_KINDS = ("", "image", "snapshot", "volume")

# Cinder refuses to delete a volume in any other status (400).
DELETABLE = frozenset(
    {
        VolumeStatus.AVAILABLE,
        VolumeStatus.ERROR,
        VolumeStatus.ERROR_DELETING,
        VolumeStatus.ERROR_EXTENDING,
    }
)


S = TypeVar("S", VolumeStatus, SnapshotStatus)


def status_asked(kind: type[S], status: str) -> S:
    """An admin's os-reset_status value: one of the kind's statuses, else
    Cinder's 400 (the text quoted, cut short)."""
    try:
        return kind(status)
    except ValueError:
        raise InvalidInput(f"Invalid input received: Invalid status {status[:40]!r}") from None


def require_size(size: int, what: str = "Volume size") -> None:
    """A whole number of GiB, at least 1."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SIZE_GB:
        raise InvalidInput(f"{what} must be an integer between 1 and {MAX_SIZE_GB} (GiB)")


def require_label(name: str, description: str, what: str) -> None:
    """Names and descriptions may be empty (Cinder shows null), and printable."""
    require_text(name, f"{what} name", MAX_NAME, allow_empty=True)
    require_text(description, f"{what} description", MAX_DESCRIPTION, allow_empty=True)


def volume_quota(size: int, type_name: str) -> dict[str, int]:
    """What a volume holds of its project's quota, as Cinder counts it: one
    volume and its size, in all and for its type."""
    return {
        "volumes": 1,
        "gigabytes": size,
        f"volumes_{type_name}": 1,
        f"gigabytes_{type_name}": size,
    }


def snapshot_quota(size: int, type_name: str) -> dict[str, int]:
    """A snapshot counts once and its volume's size (Cinder counts snapshot
    gigabytes in ``gigabytes`` too)."""
    return {
        "snapshots": 1,
        "gigabytes": size,
        f"snapshots_{type_name}": 1,
        f"gigabytes_{type_name}": size,
    }


# A server's disks: vda (root) and vdb (ephemeral) are the instance's own;
# volumes take vdc, vdd ... in order.
DEVICE_PREFIX = "/dev/vd"
ROOT_DEVICE = "/dev/vda"
_VOLUME_LETTERS = "cdefghijklmnopqrstuvwxyz"


def next_device(used: Iterable[str]) -> str:
    """The first of /dev/vdc, /dev/vdd ... that no volume of the server has."""
    taken = set(used)
    for letter in _VOLUME_LETTERS:
        device = f"{DEVICE_PREFIX}{letter}"
        if device not in taken:
            return device
    raise InvalidInput(f"No free disk device names for prefix '{DEVICE_PREFIX}'")
