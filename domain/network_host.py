"""The NetworkHost aggregate: a host's network worker as the ledger knows
it, the drift its periodic reconcile found on the host and repaired, one
event per repair (a tap that vanished plugged again, a filter stale or
missing written again, a device of no live port removed, a dead DHCP
server started again ...), so the audit trail says what the host did
behind the requests' backs and why."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.values import Actor, natural_id

# What a repair was about, and what was done to it.
REPAIRED_KINDS = ("port", "filter", "segment", "dhcp", "lease", "router")
REPAIR_ACTIONS = ("made", "removed", "refreshed")


class NetworkHost(Aggregate):
    """One host's network worker (a compute host, or the network node)."""

    class Created(Aggregate.Created):
        host: str
        actor: Actor

    @staticmethod
    def create_id(host: str, **_: object) -> UUID:
        return natural_id("network-host", host)

    @event(Created)
    def __init__(self, host: str, actor: Actor) -> None:
        self.host = host
        self.repairs = 0

    def repaired(self, kind: str, item: str, action: str, detail: str, actor: Actor) -> None:
        """The host's state of ``item`` (an id) differed from the ledger's and
        was brought back in line by ``action``; ``detail`` says what was found."""
        if kind not in REPAIRED_KINDS or action not in REPAIR_ACTIONS:
            raise ValueError(f"unknown repair {kind}/{action}")
        self._repaired(kind, item, action, detail[:500], actor)

    class Repaired(Aggregate.Event):
        kind: str
        item: str
        action: str
        detail: str
        actor: Actor

    @event(Repaired)
    def _repaired(self, kind: str, item: str, action: str, detail: str, actor: Actor) -> None:
        self.repairs += 1
