"""What a worker role's jobs run against: one typed context per role.

A role's builder (workers/roles/) makes its context once, at the start of
the process, and the process's RQ worker passes it to every job it runs
(workers/rq_worker.py): each job function takes it first, annotated with the
type it needs. ``LedgerContext`` is what every role has: a job that only
records in the ledger runs on any of them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from commands.app import CloudApp
from domain.scheduling import HostCandidate, SchedulerConfig
from projections.hosts import HostsView
from workers.drivers.console import ConsoleLog, MemoryConsole
from workers.drivers.disks import DiskStore
from workers.drivers.errors import PermanentDriverError
from workers.drivers.hypervisor import Hypervisor
from workers.drivers.image_cache import ImageCache, ImageDigest, Sink

ImageFetcher = Callable[[str, Sink], None]  # image id, where its bytes go
ImageUploader = Callable[[str, Path], None]  # image id, file with its data


def _no_uploads(image_id: str, source: Path) -> None:
    raise PermanentDriverError("this compute host cannot upload snapshots")


def _liveness_unknown() -> set[str] | None:
    return None


@dataclass(frozen=True)
class ImageFacts:
    """An image's disk format, what its bytes hash to, and the kernel and
    ramdisk images (with their command line) it boots with, if any."""

    disk_format: str
    digest: ImageDigest
    kernel_id: str | None = None
    ramdisk_id: str | None = None
    cmdline: str = ""
    firmware: str = "bios"  # hw_firmware_type: "bios" or "uefi"


@dataclass(frozen=True)
class LedgerContext:
    """The ledger: every role's context is one."""

    app: CloudApp


@dataclass(frozen=True)
class SchedulerContext(LedgerContext):
    """The scheduler: the ledger, the hosts read model to rank hosts, its
    filters and weighers, and which hosts' workers beat (None: cannot be
    told yet, so ComputeFilter counts every host as up)."""

    hosts: HostsView
    config: SchedulerConfig = field(default_factory=SchedulerConfig)
    hosts_up: Callable[[], set[str] | None] = _liveness_unknown

    def candidates(self) -> list[HostCandidate]:
        """The hosts read model's hosts; up if not forced down and beating."""
        up = self.hosts_up()
        found = self.hosts.candidates()
        return found if up is None else [replace(h, up=h.up and h.name in up) for h in found]


@dataclass(frozen=True)
class ComputeContext(LedgerContext):
    """One compute host: the ledger, and the drivers of its hypervisor, disks
    and image cache."""

    name: str
    hypervisor: Hypervisor
    disks: DiskStore
    fetch_image: ImageFetcher
    images: ImageCache
    console: ConsoleLog = field(default_factory=MemoryConsole)
    upload_image: ImageUploader = _no_uploads
    # What the host needs of an image: fixed once it has data, so read from
    # the ledger once per image.
    image_facts: dict[str, ImageFacts] = field(default_factory=dict)
    # Where a resize's source leaves the root disk for its destination: one
    # folder all hosts of this machine share (Nova copies it over SSH).
    transfers: Path = field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "cloudledger-transfers"
    )
    # What the power sync does with a domain of ours the ledger does not
    # place here: report it (the default), or also remove it with its disks.
    remove_unknown_domains: bool = False
    # The key volumes' CHAP secrets derive from (workers/drivers/chap.py):
    # this host logs in to the volumes attached to its guests.
    chap_key: bytes = field(default=b"", repr=False)
    # The contexts of the roles that share this host's process
    # (workers/declarations.py, Role.joins): a job finds the one it needs by type.
    neighbours: tuple[LedgerContext, ...] = ()

    def with_neighbours(self, contexts: tuple[LedgerContext, ...]) -> ComputeContext:
        return replace(self, neighbours=contexts)

    def transfer_path(self, instance_id: object) -> Path:
        return self.transfers / f"{instance_id}.qcow2"
