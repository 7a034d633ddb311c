"""The ledger's hash chain: what one event's digest covers, and how digests link.

An event's digest is SHA-256 over its stored bytes (originator id, version,
topic, state), each field length-fixed or length-prefixed so no two events
encode alike. Its link is SHA-256 over the previous link and the digest, so a
link vouches for every event before it. Appenders compute digests (the costly
part, over the state bytes) before the append; the append function chains them
under the ledger's lock (64 bytes per event), in the append's transaction.
``ops/audit_chain.py`` recomputes both to verify."""

from __future__ import annotations

import hashlib
from uuid import UUID

GENESIS = bytes(32)  # the link before the first event


def digest(originator_id: UUID | str, version: int, topic: str, state: bytes) -> bytes:
    """SHA-256 of one stored event's bytes."""
    oid = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
    name = topic.encode()
    h = hashlib.sha256(
        b"".join(
            (oid.bytes, version.to_bytes(8, "big", signed=True), len(name).to_bytes(4, "big"), name)
        )
    )
    h.update(state)  # not joined: a state can be megabytes
    return h.digest()


def link(previous: bytes, event_digest: bytes) -> bytes:
    """The chain's link for an event (as the append function's ``sha256(prev || d)``)."""
    return hashlib.sha256(previous + event_digest).digest()
