"""The Quota aggregate: one per project; reservations never exceed the limits."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import resources
from domain.errors import InvalidInput, QuotaExceeded
from domain.values import Actor, natural_id, require_int32

UNLIMITED = -1
# Cinder's per volume type keys: volumes_<type>, gigabytes_<type>,
# snapshots_<type>; unlimited unless set.
PER_TYPE_PREFIXES = ("volumes_", "gigabytes_", "snapshots_")


def known_resource(resource: str) -> bool:
    return resource in default_limits() or (
        resource.startswith(PER_TYPE_PREFIXES) and resource.partition("_")[2] != ""
    )


def default_limit(resource: str) -> int:
    """A resource's limit where a project has none recorded (a project made
    before the resource existed, or a per-type key never set)."""
    return default_limits().get(resource, UNLIMITED)


def default_limits() -> dict[str, int]:
    """A new project's limits: every resource's quota keys (domain/resources/)."""
    return resources.quota_defaults()


def __getattr__(name: str) -> dict[str, int]:
    """``DEFAULT_LIMITS``, as modules imported it before each resource
    declared its own keys (gathered on first use, not at import)."""
    if name == "DEFAULT_LIMITS":
        return default_limits()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Quota(Aggregate):
    """Limits and per-consumer reservations of one project."""

    class Created(Aggregate.Created):
        project_id: str
        limits: dict[str, int]
        actor: Actor

    @staticmethod
    def create_id(project_id: str, **_: object) -> UUID:
        return natural_id("quota", project_id)

    @event(Created)
    def __init__(self, project_id: str, limits: dict[str, int], actor: Actor) -> None:
        self.project_id = project_id
        self.limits = dict(limits)
        # consumer id (e.g. an instance id) -> what it holds; keys are str
        # because snapshots are JSON.
        self.allocations: dict[str, dict[str, int]] = {}
        self.reserved_totals: dict[str, int] = {}  # running sums of the allocations

    @property
    def in_use(self) -> dict[str, int]:
        return {**dict.fromkeys(self.limits, 0), **self._totals()}

    def _totals(self) -> dict[str, int]:
        """The allocations' running sums: kept per event, so a reservation
        costs the same however many the project holds (summed once for a
        snapshot older than them)."""
        if "reserved_totals" not in self.__dict__:
            totals: dict[str, int] = {}
            for held in self.allocations.values():
                for resource, amount in held.items():
                    totals[resource] = totals.get(resource, 0) + amount
            self.reserved_totals = totals
        return self.reserved_totals

    def limit_of(self, resource: str) -> int:
        return self.limits.get(resource, default_limit(resource))

    def reserve(self, consumer_id: str, amounts: dict[str, int], actor: Actor) -> None:
        """Hold amounts for a consumer, or raise QuotaExceeded and change nothing."""
        if consumer_id in self.allocations:
            return
        if self.closed:
            raise InvalidInput(f"Project {self.project_id} has been deleted")
        self.check(amounts)
        self._reserved(consumer_id, dict(amounts), actor)

    def check(self, amounts: dict[str, int]) -> None:
        """QuotaExceeded if these amounts would not fit now; changes nothing."""
        if any(amount < 0 for amount in amounts.values()):
            raise InvalidInput("Quota reservations must not be negative")
        used = self.in_use
        for resource, requested in amounts.items():
            limit = self.limit_of(resource)
            if limit != UNLIMITED and used.get(resource, 0) + requested > limit:
                raise QuotaExceeded(resource, requested, used.get(resource, 0), limit)

    def fits(self, amounts: dict[str, int], wanted: int) -> int:
        """How many times (up to ``wanted``) these amounts fit at once."""
        fitting = wanted
        used = self.in_use
        for resource, each in amounts.items():
            limit = self.limit_of(resource)
            if limit != UNLIMITED and each > 0:
                fitting = min(fitting, max(limit - used.get(resource, 0), 0) // each)
        return fitting

    class Reserved(Aggregate.Event):
        consumer_id: str
        amounts: dict[str, int]
        actor: Actor

    @event(Reserved)
    def _reserved(self, consumer_id: str, amounts: dict[str, int], actor: Actor) -> None:
        self.allocations[consumer_id] = amounts
        self._count(amounts, 1)

    def _count(self, amounts: dict[str, int], sign: int) -> None:
        """The running sums, moved by amounts held (1) or given back (-1)."""
        totals = self._totals()
        for resource, amount in amounts.items():
            totals[resource] = totals.get(resource, 0) + sign * amount

    def release(self, consumer_id: str, actor: Actor) -> None:
        """Give back what a consumer holds; releasing twice is a no-op."""
        if consumer_id in self.allocations:
            self._released(consumer_id, self.allocations[consumer_id], actor)

    class Released(Aggregate.Event):
        consumer_id: str
        amounts: dict[str, int]
        actor: Actor

    @event(Released)
    def _released(self, consumer_id: str, amounts: dict[str, int], actor: Actor) -> None:
        self._count(self.allocations.pop(consumer_id), -1)

    def reserve_many(self, allocations: dict[str, dict[str, int]], actor: Actor) -> None:
        """Hold amounts for several consumers at once (a server and the ports
        made for it): one event, or QuotaExceeded and nothing changes. Those
        already holding are skipped, as ``reserve`` skips them."""
        new = {c: dict(a) for c, a in allocations.items() if c not in self.allocations}
        if len(new) <= 1:
            for consumer_id, amounts in new.items():
                self.reserve(consumer_id, amounts, actor)
            return
        if self.closed:
            raise InvalidInput(f"Project {self.project_id} has been deleted")
        self.check(_summed(new.values()))
        self._many_reserved(new, _summed(new.values()), actor)

    class ManyReserved(Aggregate.Event):
        allocations: dict[str, dict[str, int]]  # consumer id -> what it holds
        amounts: dict[str, int]  # their sum, for the views
        actor: Actor

    @event(ManyReserved)
    def _many_reserved(
        self, allocations: dict[str, dict[str, int]], amounts: dict[str, int], actor: Actor
    ) -> None:
        self.allocations.update(allocations)
        self._count(amounts, 1)

    def release_many(self, consumer_ids: list[str], actor: Actor) -> None:
        """Give back what several consumers hold (a batch of deleted servers
        and their ports) in one event; those holding nothing are skipped."""
        held = {
            c: self.allocations[c] for c in dict.fromkeys(consumer_ids) if c in self.allocations
        }
        if len(held) == 1:
            (consumer_id,) = held
            self.release(consumer_id, actor)
        elif held:
            self._many_released(held, _summed(held.values()), actor)

    class ManyReleased(Aggregate.Event):
        allocations: dict[str, dict[str, int]]  # consumer id -> what it held
        amounts: dict[str, int]  # their sum, for the views
        actor: Actor

    @event(ManyReleased)
    def _many_released(
        self, allocations: dict[str, dict[str, int]], amounts: dict[str, int], actor: Actor
    ) -> None:
        for consumer_id in allocations:
            del self.allocations[consumer_id]
        self._count(amounts, -1)

    def adjust(self, consumer_id: str, amounts: dict[str, int], actor: Actor) -> None:
        """Hold other amounts for a consumer (a resize, or its revert). Only
        the growth is checked: shrinking always fits, even over a lowered limit."""
        held = self.allocations.get(consumer_id)
        if held is None:
            raise InvalidInput(f"{consumer_id} holds no quota to adjust")
        if any(amount < 0 for amount in amounts.values()):
            raise InvalidInput("Quota reservations must not be negative")
        used = self.in_use
        for resource, amount in amounts.items():
            growth = amount - held.get(resource, 0)
            limit = self.limit_of(resource)
            if growth > 0 and limit != UNLIMITED and used.get(resource, 0) + growth > limit:
                raise QuotaExceeded(resource, growth, used.get(resource, 0), limit)
        # Sorted: a set's order changes from process to process, and stored
        # bytes should not.
        change = {r: amounts.get(r, 0) - held.get(r, 0) for r in sorted({*amounts, *held})}
        if any(change.values()):
            self._adjusted(consumer_id, dict(amounts), change, actor)

    class Adjusted(Aggregate.Event):
        consumer_id: str
        amounts: dict[str, int]
        change: dict[str, int]  # amounts minus what it held before, for the views
        actor: Actor

    @event(Adjusted)
    def _adjusted(
        self, consumer_id: str, amounts: dict[str, int], change: dict[str, int], actor: Actor
    ) -> None:
        self._count(change, 1)
        self.allocations[consumer_id] = amounts

    def set_limits(self, limits: dict[str, int], actor: Actor) -> None:
        """Change limits; lowering one below usage is allowed, as in Nova."""
        for resource, limit in limits.items():
            if not known_resource(resource):
                raise InvalidInput(f"Unknown quota resource: {resource}")
            require_int32(limit, f"Quota limit for {resource}", UNLIMITED)
        changed = {k: v for k, v in limits.items() if self.limits.get(k) != v}
        if changed:
            self._limits_set(changed, actor)

    class LimitsSet(Aggregate.Event):
        limits: dict[str, int]
        actor: Actor

    @event(LimitsSet)
    def _limits_set(self, limits: dict[str, int], actor: Actor) -> None:
        self.limits.update(limits)

    @property
    def closed(self) -> bool:
        # Snapshots taken before projects could be deleted lack the attribute.
        return bool(self.__dict__.get("is_closed", False))

    def close(self, actor: Actor) -> None:
        """The project is deleted: no more reservations. Saved with the
        deletion, so a boot racing it conflicts instead of slipping in."""
        if not self.closed:
            self._closed(actor)

    class Closed(Aggregate.Event):
        actor: Actor

    @event(Closed)
    def _closed(self, actor: Actor) -> None:
        self.is_closed = True


def _summed(allocations: Iterable[dict[str, int]]) -> dict[str, int]:
    """What several allocations hold together, by resource (in sorted order:
    stored bytes should not depend on the order consumers came in)."""
    total: dict[str, int] = {}
    for held in allocations:
        for resource, amount in held.items():
            total[resource] = total.get(resource, 0) + amount
    return dict(sorted(total.items()))
