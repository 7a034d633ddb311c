"""The hosts read model: capacity and usage per compute host."""

from __future__ import annotations

import platform
from functools import singledispatchmethod
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from domain.host import ComputeHost
from domain.scheduling import HostCandidate, canonical_arch
from projections.reader import Query
from projections.view import ProjectionView, topics_of

# Every host of this deployment runs on this machine's CPU.
MACHINE_ARCHITECTURE = canonical_arch(platform.machine())


class HostsView(ProjectionView):
    """One row per host; the scheduler filters and weighs from it."""

    name = "hosts"
    topics = topics_of(
        ComputeHost.Registered,
        ComputeHost.Claimed,
        ComputeHost.Released,
        ComputeHost.ClaimRenamed,
        ComputeHost.EnabledSet,
        ComputeHost.Disabled,
        ComputeHost.Enabled,
        ComputeHost.ForcedDown,
        ComputeHost.ForceDownCleared,
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS hosts (
            aggregate_id uuid UNIQUE NOT NULL, name text PRIMARY KEY, zone text NOT NULL,
            vcpus int NOT NULL, ram_mb int NOT NULL, disk_gb int NOT NULL,
            cpu_ratio float NOT NULL, ram_ratio float NOT NULL, disk_ratio float NOT NULL,
            enabled boolean NOT NULL, running_vms int NOT NULL DEFAULT 0,
            vcpus_used int NOT NULL DEFAULT 0, ram_mb_used int NOT NULL DEFAULT 0,
            disk_gb_used int NOT NULL DEFAULT 0)""",
        # Tables made before disable reasons and force-down: their rows stand
        # as they are (no reason, not forced down), no rebuild needed.
        "ALTER TABLE hosts ADD COLUMN IF NOT EXISTS disabled_reason text",
        "ALTER TABLE hosts ADD COLUMN IF NOT EXISTS forced_down boolean NOT NULL DEFAULT false",
    )

    @singledispatchmethod
    def apply(self, event: Any, cur: Cursor[DictRow]) -> None:
        """Other events only move the tracking position."""

    @apply.register
    def _(self, e: ComputeHost.Registered, cur: Cursor[DictRow]) -> None:
        cur.execute(
            "INSERT INTO hosts (aggregate_id, name, zone, vcpus, ram_mb, disk_gb, "
            "cpu_ratio, ram_ratio, disk_ratio, enabled) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,true)",
            (
                e.originator_id,
                e.name,
                e.zone,
                e.vcpus,
                e.ram_mb,
                e.disk_gb,
                e.cpu_ratio,
                e.ram_ratio,
                e.disk_ratio,
            ),
        )

    @apply.register
    def _(self, e: ComputeHost.Claimed, cur: Cursor[DictRow]) -> None:
        vms = 0 if _is_resize(e.instance_id) else 1
        self._usage(cur, e.originator_id, vms, e.vcpus, e.ram_mb, e.disk_gb)

    @apply.register
    def _(self, e: ComputeHost.Released, cur: Cursor[DictRow]) -> None:
        vms = 0 if _is_resize(e.instance_id) else -1
        self._usage(cur, e.originator_id, vms, -e.vcpus, -e.ram_mb, -e.disk_gb)

    @apply.register
    def _(self, e: ComputeHost.ClaimRenamed, cur: Cursor[DictRow]) -> None:
        # A confirmed resize: the claim counted as room is now a running VM.
        self._usage(cur, e.originator_id, 1, 0, 0, 0)

    @apply.register
    def _(self, e: ComputeHost.EnabledSet, cur: Cursor[DictRow]) -> None:
        self._enabled(cur, e.originator_id, e.enabled, None)

    @apply.register
    def _(self, e: ComputeHost.Disabled, cur: Cursor[DictRow]) -> None:
        self._enabled(cur, e.originator_id, False, e.reason)

    @apply.register
    def _(self, e: ComputeHost.Enabled, cur: Cursor[DictRow]) -> None:
        self._enabled(cur, e.originator_id, True, None)

    @apply.register
    def _(self, e: ComputeHost.ForcedDown, cur: Cursor[DictRow]) -> None:
        self._forced_down(cur, e.originator_id, True)

    @apply.register
    def _(self, e: ComputeHost.ForceDownCleared, cur: Cursor[DictRow]) -> None:
        self._forced_down(cur, e.originator_id, False)

    @staticmethod
    def _enabled(cur: Cursor[DictRow], host_id: Any, enabled: bool, reason: str | None) -> None:
        cur.execute(
            "UPDATE hosts SET enabled=%s, disabled_reason=%s WHERE aggregate_id=%s",
            (enabled, reason, host_id),
        )

    @staticmethod
    def _forced_down(cur: Cursor[DictRow], host_id: Any, forced_down: bool) -> None:
        cur.execute("UPDATE hosts SET forced_down=%s WHERE aggregate_id=%s", (forced_down, host_id))

    @staticmethod
    def _usage(cur: Cursor[DictRow], host_id: Any, vms: int, cpu: int, ram: int, disk: int) -> None:
        cur.execute(
            "UPDATE hosts SET running_vms=running_vms+%s, vcpus_used=vcpus_used+%s, "
            "ram_mb_used=ram_mb_used+%s, disk_gb_used=disk_gb_used+%s WHERE aggregate_id=%s",
            (vms, cpu, ram, disk, host_id),
        )

    def list_hosts(self) -> list[DictRow]:
        return self.fetch_all(Query("SELECT * FROM hosts ORDER BY name"))

    def candidates(self) -> list[HostCandidate]:
        return [
            HostCandidate(
                name=r["name"],
                enabled=r["enabled"],
                # Forced down is down, whatever its heartbeat says (as in Nova).
                up=not r["forced_down"],
                free_vcpus=r["vcpus"] * r["cpu_ratio"] - r["vcpus_used"],
                free_ram_mb=r["ram_mb"] * r["ram_ratio"] - r["ram_mb_used"],
                free_disk_gb=r["disk_gb"] * r["disk_ratio"] - r["disk_gb_used"],
                zone=r["zone"],
                architecture=MACHINE_ARCHITECTURE,
            )
            for r in self.fetch_all(all_hosts())
        ]


def all_hosts() -> Query:
    """Every host, its zone that of an aggregate it is in (else its own)."""
    return Query(
        "SELECT h.name, h.enabled, h.disabled_reason, h.forced_down, h.vcpus, h.ram_mb,"
        " h.disk_gb, h.cpu_ratio, h.ram_ratio, h.disk_ratio, h.running_vms, h.vcpus_used,"
        " h.ram_mb_used, h.disk_gb_used,"
        " coalesce((SELECT a.metadata->>'availability_zone' FROM host_aggregates a"
        " WHERE h.name = ANY(a.hosts) AND a.metadata ? 'availability_zone' LIMIT 1),"
        " h.zone) AS zone FROM hosts h ORDER BY h.name"
    )


def _is_resize(claim_key: str) -> bool:
    """A resize's second claim (domain/resize.py) holds room, not another VM."""
    return claim_key.endswith("/resize")
