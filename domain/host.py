"""The ComputeHost aggregate: capacity and claims, never beyond its ratios."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InsufficientCapacity
from domain.values import Actor, natural_id, require_text

MAX_DISABLED_REASON = 255  # Nova's column and schema limit


@dataclass(frozen=True)
class Resources:
    """An amount of vCPUs, RAM (MiB) and disk (GiB)."""

    vcpus: float
    ram_mb: float
    disk_gb: float


class ComputeHost(Aggregate):
    """One hypervisor host; claims are keyed by instance id."""

    # Version 2 keeps a disable reason and the forced-down flag; a snapshot
    # taken before them reads back enabled-state as it was, with neither.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, object]) -> None:
        state.setdefault("disabled_reason", None)
        state.setdefault("forced_down", False)

    class Registered(Aggregate.Created):
        name: str
        vcpus: int
        ram_mb: int
        disk_gb: int
        cpu_ratio: float
        ram_ratio: float
        disk_ratio: float
        zone: str
        actor: Actor

    @staticmethod
    def create_id(name: str, **_: object) -> UUID:
        return natural_id("host", name)

    @event(Registered)
    def __init__(
        self,
        name: str,
        vcpus: int,
        ram_mb: int,
        disk_gb: int,
        cpu_ratio: float,
        ram_ratio: float,
        disk_ratio: float,
        zone: str,
        actor: Actor,
    ) -> None:
        self.name = name
        self.vcpus, self.ram_mb, self.disk_gb = vcpus, ram_mb, disk_gb
        self.cpu_ratio, self.ram_ratio, self.disk_ratio = (
            cpu_ratio,
            ram_ratio,
            disk_ratio,
        )
        self.zone = zone
        self.enabled = True
        self.disabled_reason: str | None = None
        self.forced_down = False
        self.claims: dict[str, list[int]] = {}  # instance id -> [vcpus, ram, disk]
        self.claimed_totals = [0, 0, 0]  # running sums of the claims

    def instances_claimed(self) -> set[UUID]:
        """The instances with a claim here: a resize's second claim is keyed
        ``<id>/resize`` (domain/resize.py), so one instance may hold two."""
        return {UUID(key.partition("/")[0]) for key in self.claims}

    @property
    def limits(self) -> Resources:
        return Resources(
            self.vcpus * self.cpu_ratio,
            self.ram_mb * self.ram_ratio,
            self.disk_gb * self.disk_ratio,
        )

    @property
    def used(self) -> Resources:
        vcpus, ram_mb, disk_gb = self._totals()
        return Resources(vcpus, ram_mb, disk_gb)

    def _totals(self) -> list[int]:
        """The claims' running sums: kept per event, so a claim costs the same
        however full the host is (summed once for a snapshot older than them)."""
        if "claimed_totals" not in self.__dict__:
            claims = self.claims.values()
            self.claimed_totals = [sum(c[i] for c in claims) for i in range(3)]
        return self.claimed_totals

    @property
    def free(self) -> Resources:
        limits, used = self.limits, self.used
        return Resources(
            limits.vcpus - used.vcpus,
            limits.ram_mb - used.ram_mb,
            limits.disk_gb - used.disk_gb,
        )

    def fits(self, vcpus: int, ram_mb: int, disk_gb: int) -> bool:
        free = self.free
        return vcpus <= free.vcpus and ram_mb <= free.ram_mb and disk_gb <= free.disk_gb

    def claim(self, instance_id: str, vcpus: int, ram_mb: int, disk_gb: int, actor: Actor) -> None:
        """Reserve resources for an instance, or raise InsufficientCapacity."""
        if instance_id in self.claims:
            return
        if not self.enabled:
            raise InsufficientCapacity(f"Host {self.name} is disabled")
        if self.forced_down:  # a scheduler racing the force-down loses here
            raise InsufficientCapacity(f"Host {self.name} is forced down")
        if not self.fits(vcpus, ram_mb, disk_gb):
            raise InsufficientCapacity(f"Host {self.name} cannot fit the instance")
        self._claimed(instance_id, vcpus, ram_mb, disk_gb, actor)

    class Claimed(Aggregate.Event):
        instance_id: str
        vcpus: int
        ram_mb: int
        disk_gb: int
        actor: Actor

    @event(Claimed)
    def _claimed(
        self, instance_id: str, vcpus: int, ram_mb: int, disk_gb: int, actor: Actor
    ) -> None:
        totals = self._totals()
        self.claims[instance_id] = [vcpus, ram_mb, disk_gb]
        totals[0], totals[1], totals[2] = totals[0] + vcpus, totals[1] + ram_mb, totals[2] + disk_gb

    def release(self, instance_id: str, actor: Actor) -> None:
        """Drop an instance's claim; releasing twice is a no-op."""
        if instance_id in self.claims:
            vcpus, ram_mb, disk_gb = self.claims[instance_id]
            self._released(instance_id, vcpus, ram_mb, disk_gb, actor)

    class Released(Aggregate.Event):
        instance_id: str
        vcpus: int
        ram_mb: int
        disk_gb: int
        actor: Actor

    @event(Released)
    def _released(
        self, instance_id: str, vcpus: int, ram_mb: int, disk_gb: int, actor: Actor
    ) -> None:
        totals = self._totals()
        del self.claims[instance_id]
        totals[0], totals[1], totals[2] = totals[0] - vcpus, totals[1] - ram_mb, totals[2] - disk_gb

    def rename_claim(self, old_key: str, new_key: str, actor: Actor) -> None:
        """A confirmed resize: the destination's claim becomes the instance's."""
        if old_key in self.claims and new_key not in self.claims:
            self._claim_renamed(old_key, new_key, actor)

    class ClaimRenamed(Aggregate.Event):
        old_key: str
        new_key: str
        actor: Actor

    @event(ClaimRenamed)
    def _claim_renamed(self, old_key: str, new_key: str, actor: Actor) -> None:
        self.claims[new_key] = self.claims.pop(old_key)

    def set_enabled(self, enabled: bool, actor: Actor) -> None:
        """Enable, or disable without a reason (Nova's plain ``disable``)."""
        if enabled:
            self.enable(actor)
        else:
            self.disable(None, actor)

    class EnabledSet(Aggregate.Event):
        """Appended before disable reasons existed; still in the ledger, so
        still replayed, but no longer appended (Enabled, Disabled are)."""

        enabled: bool
        actor: Actor

    @event(EnabledSet)
    def _enabled_set(self, enabled: bool, actor: Actor) -> None:
        self.enabled = enabled
        self.disabled_reason = None

    def disable(self, reason: str | None, actor: Actor) -> None:
        """Take no new instances; the ones on the host keep running. Disabling
        again with another reason records the new reason, as Nova does."""
        if reason is not None:
            require_text(reason, "Disabled reason", MAX_DISABLED_REASON)
        if self.enabled or reason != self.disabled_reason:
            self._disabled(reason, actor)

    class Disabled(Aggregate.Event):
        reason: str | None
        actor: Actor

    @event(Disabled)
    def _disabled(self, reason: str | None, actor: Actor) -> None:
        self.enabled, self.disabled_reason = False, reason

    def enable(self, actor: Actor) -> None:
        """Take instances again; the disable reason is cleared."""
        if not self.enabled:
            self._enabled(actor)

    class Enabled(Aggregate.Event):
        actor: Actor

    @event(Enabled)
    def _enabled(self, actor: Actor) -> None:
        self.enabled, self.disabled_reason = True, None

    def set_forced_down(self, forced_down: bool, actor: Actor) -> None:
        """An operator's word that the host is down (fenced), whatever its
        heartbeat says: it shows down and takes no claims until lifted."""
        if forced_down and not self.forced_down:
            self._forced_down(actor)
        elif self.forced_down and not forced_down:
            self._force_down_cleared(actor)

    class ForcedDown(Aggregate.Event):
        actor: Actor

    @event(ForcedDown)
    def _forced_down(self, actor: Actor) -> None:
        self.forced_down = True

    class ForceDownCleared(Aggregate.Event):
        actor: Actor

    @event(ForceDownCleared)
    def _force_down_cleared(self, actor: Actor) -> None:
        self.forced_down = False

    def check_same_capacity(self, vcpus: int, ram_mb: int, disk_gb: int) -> None:
        """Re-registering a host must not silently change what it offers."""
        if (vcpus, ram_mb, disk_gb) != (self.vcpus, self.ram_mb, self.disk_gb):
            raise Conflict(f"Host {self.name} is already registered with other sizes")
