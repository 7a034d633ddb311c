"""Host selection: Nova-style filters then weighers, as a pure function."""

from __future__ import annotations

from dataclasses import dataclass

from domain.values import FlavorSnapshot


@dataclass(frozen=True)
class HostCandidate:
    """What the scheduler knows of a host: its free room under its ratios."""

    name: str
    enabled: bool
    free_vcpus: float
    free_ram_mb: float
    free_disk_gb: float


def disk_needed(flavor: FlavorSnapshot) -> int:
    """Local disk an instance takes: root + ephemeral + swap, in GiB (rounded up)."""
    return flavor.disk_gb + flavor.ephemeral_gb + -(-flavor.swap_mb // 1024)


def rank_hosts(hosts: list[HostCandidate], flavor: FlavorSnapshot) -> list[str]:
    """Names of hosts that pass every filter, best first (spread by free RAM)."""
    disk = disk_needed(flavor)
    passing = [
        h
        for h in hosts
        if h.enabled
        and h.free_vcpus >= flavor.vcpus
        and h.free_ram_mb >= flavor.ram_mb
        and h.free_disk_gb >= disk
    ]
    # Spread: most free RAM first; the name breaks ties so the order is stable.
    passing.sort(key=lambda h: (-h.free_ram_mb, h.name))
    return [h.name for h in passing]
