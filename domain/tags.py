"""Server tags (compute 2.26): short labels a user puts on a server and lists
by. Their event lives on ``Tagging``, a base class of Instance, so the
ledger stores it as ``domain.tags:Tagging.TagsSet``."""

from __future__ import annotations

from collections.abc import Sequence

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, InvalidTransition
from domain.values import Actor, VmState, require_text

MAX_TAGS = 50  # Nova's limits: 50 tags, each up to 60 characters
MAX_TAG_LENGTH = 60


def require_tags(tags: Sequence[str]) -> list[str]:
    """Nova's rules: at most 50, each 1 to 60 printable characters, no "/" or
    "," (they would break the tag's URL and the list filters). Duplicates
    count once, and the order given is kept."""
    unique = list(dict.fromkeys(tags))
    if len(unique) > MAX_TAGS:
        raise InvalidInput(f"A server has at most {MAX_TAGS} tags")
    for tag in unique:
        require_text(tag, "Tag", max_length=MAX_TAG_LENGTH)
        if "/" in tag or "," in tag:
            raise InvalidInput(f"Tag {tag!r} must not contain '/' or ','")
    return unique


class Tagging(Aggregate):
    """The tags part of the Instance aggregate."""

    vm_state: VmState  # kept by Instance

    @property
    def tags(self) -> list[str]:
        # Snapshots taken before tags existed lack them.
        return list(self.__dict__.get("tag_list", []))

    def set_tags(self, tags: Sequence[str], actor: Actor) -> None:
        """The whole new set (the caller added to or removed from the old)."""
        if self.vm_state == VmState.DELETED:
            raise InvalidTransition(f"instance {self.id}", "deleted", "tag")
        wanted = require_tags(tags)
        if wanted != self.tags:
            self._tags_set(wanted, actor)

    class TagsSet(Aggregate.Event):
        tags: list[str]
        actor: Actor

    @event(TagsSet)
    def _tags_set(self, tags: list[str], actor: Actor) -> None:
        self.tag_list = list(tags)
