"""Usage arithmetic: hours of an instance's intervals within a period,
priced by the flavor each interval had. The ledger gives the intervals
exactly (a stop or, later, a resize starts a new one), so nothing is
smeared over the whole period. os-simple-tenant-usage and the billing
replay (domain/metering.py) both use this."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Interval:
    """One stretch of an instance's life with one flavor and one state."""

    instance_id: str
    project_id: str
    name: str
    state: str
    vcpus: int
    ram_mb: int
    disk_gb: int  # root plus ephemeral
    flavor_name: str
    started_at: datetime
    ended_at: datetime | None  # None: still going


def overlap(
    started_at: datetime, ended_at: datetime | None, start: datetime, stop: datetime
) -> timedelta:
    """The part of [started_at, ended_at) inside [start, stop), exactly (to
    the microsecond): billing counts in it, the API in hours of it."""
    begin = max(started_at, start)
    end = min(ended_at or stop, stop)
    return max(end - begin, timedelta(0))


def overlap_hours(
    started_at: datetime, ended_at: datetime | None, start: datetime, stop: datetime
) -> float:
    """Hours of [started_at, ended_at) inside [start, stop) (Nova's formula)."""
    return overlap(started_at, ended_at, start, stop).total_seconds() / 3600.0


@dataclass
class InstanceUsage:
    instance_id: str
    project_id: str
    name: str
    flavor_name: str
    state: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    started_at: datetime
    ended_at: datetime | None
    hours: float = 0.0
    vcpu_hours: float = 0.0
    ram_mb_hours: float = 0.0
    disk_gb_hours: float = 0.0


@dataclass
class ProjectUsage:
    project_id: str
    instances: dict[str, InstanceUsage] = field(default_factory=dict)

    @property
    def hours(self) -> float:
        return sum(i.hours for i in self.instances.values())

    @property
    def vcpu_hours(self) -> float:
        return sum(i.vcpu_hours for i in self.instances.values())

    @property
    def ram_mb_hours(self) -> float:
        return sum(i.ram_mb_hours for i in self.instances.values())

    @property
    def disk_gb_hours(self) -> float:
        return sum(i.disk_gb_hours for i in self.instances.values())


def usage_by_project(
    intervals: Iterable[Interval], start: datetime, stop: datetime, now: datetime
) -> dict[str, ProjectUsage]:
    """Each project's usage in [start, stop); an instance's figures are the
    sum of its intervals', each at the sizes it had then. The instance is
    shown with its latest interval's flavor and state. Unlike Nova, a
    running instance counts up to ``now``, not to a period end in the future."""
    projects: dict[str, ProjectUsage] = {}
    for interval in sorted(intervals, key=lambda i: i.started_at):
        ended = interval.ended_at or now
        hours = overlap_hours(interval.started_at, ended, start, stop)
        if hours <= 0:
            continue
        project = projects.setdefault(interval.project_id, ProjectUsage(interval.project_id))
        usage = project.instances.get(interval.instance_id)
        if usage is None:
            usage = project.instances[interval.instance_id] = InstanceUsage(
                interval.instance_id,
                interval.project_id,
                interval.name,
                interval.flavor_name,
                interval.state,
                interval.vcpus,
                interval.ram_mb,
                interval.disk_gb,
                interval.started_at,
                interval.ended_at,
            )
        usage.flavor_name, usage.state, usage.name = (
            interval.flavor_name,
            interval.state,
            interval.name,
        )
        usage.vcpus, usage.ram_mb, usage.disk_gb = interval.vcpus, interval.ram_mb, interval.disk_gb
        usage.ended_at = interval.ended_at
        usage.hours += hours
        usage.vcpu_hours += hours * interval.vcpus
        usage.ram_mb_hours += hours * interval.ram_mb
        usage.disk_gb_hours += hours * interval.disk_gb
    return projects
