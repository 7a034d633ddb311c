"""What a worker process's jobs run against, installed once at start-up.

RQ calls jobs as plain module functions with string arguments; they find the
process's application and drivers here (set by workers/bootstrap.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from commands.app import CloudApp
from projections.hosts import HostsView
from workers.drivers.disks import DiskStore
from workers.drivers.hypervisor import Hypervisor

ImageFetcher = Callable[[str, Path], None]


@dataclass
class ComputeHostDrivers:
    """One compute host's name and the drivers for its hypervisor and disks."""

    name: str
    hypervisor: Hypervisor
    disks: DiskStore
    fetch_image: ImageFetcher


@dataclass
class WorkerContext:
    app: CloudApp
    hosts: HostsView | None = None
    compute: ComputeHostDrivers | None = None


_context: WorkerContext | None = None


def install(context: WorkerContext) -> None:
    global _context  # noqa: PLW0603 - one per process, set by the composition root
    _context = context


def current() -> WorkerContext:
    if _context is None:
        raise RuntimeError("worker context not installed; start via workers.bootstrap")
    return _context
