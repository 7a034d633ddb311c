"""The Keypair aggregate: a user's public key, named per user; the private
key, when the cloud generates one, is handed out once and never kept."""

from __future__ import annotations

import re

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput
from domain.values import Actor

# Nova's rule before 2.92: letters, digits, spaces, '_' and '-', 1 to 255.
_NAME = re.compile(r"^[A-Za-z0-9 _-]{1,255}$")
KEY_TYPES = ("ssh", "x509")


class Keypair(Aggregate):
    class Created(Aggregate.Created):
        user_id: str
        name: str
        key_type: str
        public_key: str
        fingerprint: str
        actor: Actor

    @event(Created)
    def __init__(
        self,
        user_id: str,
        name: str,
        key_type: str,
        public_key: str,
        fingerprint: str,
        actor: Actor,
    ) -> None:
        self.user_id, self.name, self.key_type = user_id, name, key_type
        self.public_key, self.fingerprint = public_key, fingerprint
        self.deleted = False

    @staticmethod
    def validate_name(name: str) -> None:
        if not _NAME.match(name) or not name.strip():
            raise InvalidInput("Keypair name must be 1 to 255 letters, digits, spaces, '_' or '-'")

    def delete(self, actor: Actor) -> None:
        if not self.deleted:
            self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted = True
