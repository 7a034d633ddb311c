"""ServerGroup: instances that must (or should) share a host, or not.

Members join when they are booted; the scheduler records where each one
lands, in the same save as the host claim, so two schedulers placing
members at once conflict on the group and the second one decides again."""

from __future__ import annotations

from collections.abc import Iterable

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput
from domain.values import Actor, require_text

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


class ServerGroup(Aggregate):
    class Created(Aggregate.Created):
        project_id: str
        user_id: str
        name: str
        policy: str
        actor: Actor

    @event(Created)
    def __init__(self, project_id: str, user_id: str, name: str, policy: str, actor: Actor) -> None:
        self.project_id, self.user_id, self.name, self.policy = project_id, user_id, name, policy
        self.hosts: dict[str, str] = {}  # member instance id -> its host ("" until placed)
        self.deleted = False

    @staticmethod
    def validate(name: str, policy: str) -> None:
        require_text(name, "Server group name")
        if policy not in POLICIES:
            raise InvalidInput(
                f"Invalid server group policy {policy!r}: one of {', '.join(POLICIES)}"
            )

    def add_member(self, instance_id: str, actor: Actor) -> None:
        if instance_id not in self.hosts:
            self._member_added(instance_id, actor)

    class MemberAdded(Aggregate.Event):
        instance_id: str
        actor: Actor

    @event(MemberAdded)
    def _member_added(self, instance_id: str, actor: Actor) -> None:
        self.hosts[instance_id] = ""

    def allows(self, host: str, live_placed: Iterable[str]) -> bool:
        """Whether a hard policy lets a member go to ``host``, given the
        hosts of the members placed and still alive."""
        others = set(live_placed)
        if self.policy == "affinity":
            return not others or others == {host}
        if self.policy == "anti-affinity":
            return host not in others
        return True  # the soft ones only weigh

    def prefers(self, host: str, live_placed: Iterable[str]) -> bool:
        others = set(live_placed)
        if self.policy in ("affinity", "soft-affinity"):
            return host in others
        return host not in others

    def place(self, instance_id: str, host: str, actor: Actor) -> None:
        self._placed(instance_id, host, actor)

    class Placed(Aggregate.Event):
        instance_id: str
        host: str
        actor: Actor

    @event(Placed)
    def _placed(self, instance_id: str, host: str, actor: Actor) -> None:
        self.hosts[instance_id] = host

    def delete(self, actor: Actor) -> None:
        if not self.deleted:
            self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted = True
