"""Ports the command handlers need from the outside world."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class PasswordHasher(Protocol):
    """Turns passwords into salted hashes and checks them."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...


@dataclass(frozen=True)
class StoredBlob:
    """Where an image's bytes went and what they were."""

    size: int
    md5: str
    sha512: str


class ImageStore(Protocol):
    """Holds image bytes (Glance's backend store)."""

    def put(self, image_id: str, chunks: Iterable[bytes], max_size: int) -> StoredBlob:
        """Store the bytes as they come, hashing them on the way, replacing
        nothing; raises TooLarge past ``max_size`` and Conflict if bytes are
        stored already. A failure (also one raised by ``chunks``) leaves nothing."""
        ...

    def open(self, image_id: str, offset: int = 0, length: int | None = None) -> Iterable[bytes]:
        """The stored bytes from ``offset`` (``length`` of them, or to the end)
        in chunks; raises NotFound if none are stored."""
        ...

    def delete(self, image_id: str) -> None:
        """Remove the bytes if present."""
        ...
