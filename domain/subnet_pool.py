"""The SubnetPool aggregate: prefixes a project (or, shared, everyone)
carves subnets out of. Each subnet's CIDR is an allocation event on its
pool, so two subnets never get overlapping ranges from one pool."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from eventsourcing.domain import Aggregate, event

from domain.addressing import Network, NeutronBadRequest, NeutronConflict, parse_prefix
from domain.errors import InvalidInput, NotFound
from domain.values import Actor

MAX_PREFIXES = 64


def checked_prefixes(prefixes: Sequence[str]) -> tuple[int, list[str]]:
    """Their IP version and the prefixes, canonical and merged."""
    if not prefixes or len(prefixes) > MAX_PREFIXES:
        raise NeutronBadRequest(f"A subnet pool has 1 to {MAX_PREFIXES} prefixes")
    parsed = [parse_prefix(p, "prefixes") for p in prefixes]
    versions = {p.version for p in parsed}
    if len(versions) != 1:
        raise NeutronBadRequest("Invalid input: a subnet pool's prefixes are of one IP version")
    version = versions.pop()
    merged = ipaddress.collapse_addresses(parsed)  # type: ignore[type-var]
    return version, [str(p) for p in merged]


class SubnetPool(Aggregate):
    class Created(Aggregate.Created):
        project_id: str
        name: str
        description: str
        ip_version: int
        prefixes: list[str]
        default_prefixlen: int
        min_prefixlen: int
        max_prefixlen: int
        shared: bool
        actor: Actor

    @event(Created)
    def __init__(
        self,
        project_id: str,
        name: str,
        description: str,
        ip_version: int,
        prefixes: list[str],
        default_prefixlen: int,
        min_prefixlen: int,
        max_prefixlen: int,
        shared: bool,
        actor: Actor,
    ) -> None:
        self.project_id, self.name, self.description = project_id, name, description
        self.ip_version, self.prefixes = ip_version, list(prefixes)
        self.default_prefixlen, self.min_prefixlen = default_prefixlen, min_prefixlen
        self.max_prefixlen, self.shared = max_prefixlen, shared
        self.allocations: dict[str, str] = {}  # CIDR -> subnet id
        self.deleted = False

    def visible_to(self, actor: Actor) -> bool:
        return not self.deleted and (
            actor.is_admin or self.shared or self.project_id == actor.project_id
        )

    def owned_by(self, actor: Actor) -> bool:
        return not self.deleted and (actor.is_admin or self.project_id == actor.project_id)

    def require_live(self) -> None:
        if self.deleted:
            raise NotFound(f"Subnet pool {self.id} could not be found.")

    UPDATABLE = ("name", "description", "prefixes", "default_prefixlen", "min_prefixlen",
                 "max_prefixlen")  # fmt: skip

    def update(self, changes: dict[str, object], actor: Actor) -> None:
        """Prefixes may grow, never shrink (subnets were carved from them)."""
        self.require_live()
        for key in changes:
            if key not in self.UPDATABLE:
                raise InvalidInput(f"Attribute '{key}' of a subnet pool cannot be updated")
        checked = dict(changes)
        if "prefixes" in checked:
            given = checked["prefixes"]
            assert isinstance(given, list)
            version, prefixes = checked_prefixes([*self.prefixes, *given])
            if version != self.ip_version:
                raise NeutronBadRequest("Invalid input: prefixes of another IP version")
            checked["prefixes"] = prefixes
        lengths = [
            int(str(checked.get(k, getattr(self, k))))
            for k in ("min_prefixlen", "default_prefixlen", "max_prefixlen")
        ]
        check_lengths(self.ip_version, *lengths)
        changed = {k: v for k, v in checked.items() if getattr(self, k) != v}
        if changed:
            self._updated(changed, actor)

    class Updated(Aggregate.Event):
        changes: dict[str, object]
        actor: Actor

    @event(Updated)
    def _updated(self, changes: dict[str, object], actor: Actor) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    # Prefixes for subnets ------------------------------------------------------

    def check_cidr(self, cidr: Network) -> str:
        """A CIDR asked for: inside the pool, of an allowed length, free."""
        low, high = int(cidr.network_address), int(cidr.broadcast_address)
        inside = any(
            int(p.network_address) <= low and high <= int(p.broadcast_address)
            for p in (ipaddress.ip_network(text) for text in self.prefixes)
        )
        if cidr.version != self.ip_version or not inside:
            raise NeutronBadRequest(
                f"Unable to allocate subnet with prefix {cidr}: it is not within the pool's"
                " prefixes.",
                "SubnetAllocationError",
            )
        if not self.min_prefixlen <= cidr.prefixlen <= self.max_prefixlen:
            raise NeutronBadRequest(
                f"Illegal prefix bounds: prefixlen {cidr.prefixlen} is outside"
                f" {self.min_prefixlen}-{self.max_prefixlen}.",
                "IllegalSubnetPoolPrefixBounds",
            )
        for held in self.allocations:
            if ipaddress.ip_network(held).overlaps(cidr):
                raise NeutronConflict(
                    f"Unable to allocate subnet with prefix {cidr}: it overlaps {held}.",
                    "SubnetAllocationError",
                )
        return str(cidr)

    def choose(self, prefixlen: int) -> str:
        """The first free CIDR of that length, skipping past held ones
        (never listing a large prefix)."""
        if not self.min_prefixlen <= prefixlen <= self.max_prefixlen:
            raise NeutronBadRequest(
                f"Illegal prefix bounds: prefixlen {prefixlen} is outside"
                f" {self.min_prefixlen}-{self.max_prefixlen}.",
                "IllegalSubnetPoolPrefixBounds",
            )
        held = sorted(
            (int(n.network_address), int(n.broadcast_address))
            for n in (ipaddress.ip_network(c) for c in self.allocations)
        )
        bits = 32 if self.ip_version == 4 else 128
        size = 1 << (bits - prefixlen)
        for prefix in (ipaddress.ip_network(p) for p in self.prefixes):
            if prefix.prefixlen > prefixlen:
                continue
            start, end = int(prefix.network_address), int(prefix.broadcast_address)
            candidate = start
            while candidate + size - 1 <= end:
                clash = next(
                    (h for h in held if h[0] <= candidate + size - 1 and h[1] >= candidate), None
                )
                if clash is None:
                    return str(ipaddress.ip_network((candidate, prefixlen)))
                candidate = ((clash[1] + 1 + size - 1) // size) * size
        raise NeutronConflict(
            f"Unable to allocate subnet with prefix length {prefixlen}: the subnet pool"
            f" {self.id} is exhausted.",
            "SubnetAllocationError",
        )

    def allocate(self, cidr: str, subnet_id: str, actor: Actor) -> None:
        self.require_live()
        self._allocated(cidr, subnet_id, actor)

    class PrefixAllocated(Aggregate.Event):
        cidr: str
        subnet_id: str
        actor: Actor

    @event(PrefixAllocated)
    def _allocated(self, cidr: str, subnet_id: str, actor: Actor) -> None:
        self.allocations[cidr] = subnet_id

    def release(self, cidr: str, subnet_id: str, actor: Actor) -> None:
        if self.allocations.get(cidr) == subnet_id:
            self._released(cidr, subnet_id, actor)

    class PrefixReleased(Aggregate.Event):
        cidr: str
        subnet_id: str
        actor: Actor

    @event(PrefixReleased)
    def _released(self, cidr: str, subnet_id: str, actor: Actor) -> None:
        del self.allocations[cidr]

    def delete(self, actor: Actor) -> None:
        """409 SubnetPoolInUse while subnets hold prefixes of it."""
        self.require_live()
        if self.allocations:
            raise NeutronConflict(
                f"Unable to complete operation on subnet pool {self.id}. Subnets are still"
                " allocated from it.",
                "SubnetPoolInUse",
            )
        self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted = True


def check_lengths(ip_version: int, minimum: int, default: int, maximum: int) -> None:
    bits = 32 if ip_version == 4 else 128
    if not 1 <= minimum <= default <= maximum <= bits:
        raise NeutronBadRequest(
            f"Illegal prefix bounds: min {minimum}, default {default}, max {maximum}"
            f" (each 1 to {bits}, in order).",
            "IllegalSubnetPoolPrefixBounds",
        )
