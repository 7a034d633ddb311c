"""SSH keys: checking an imported public key, generating a key pair, and
the fingerprint Nova shows (MD5 of the key blob, as ``ssh-keygen -E md5``).
Uses the `cryptography` library; nothing here is hand-rolled crypto."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from domain.errors import InvalidInput

GENERATED_COMMENT = "Generated-by-cloudledger"


@dataclass(frozen=True)
class GeneratedKey:
    public_key: str  # OpenSSH one-line form
    private_key: str  # OpenSSH PEM, handed to the user once


def checked_public_key(text: str) -> str:
    """The key as given (trimmed), or InvalidInput if it is not an OpenSSH public key."""
    key = text.strip()
    try:
        serialization.load_ssh_public_key(key.encode())
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        raise InvalidInput(f"Keypair data is invalid: {exc}") from None
    return key


def generate() -> GeneratedKey:
    """A new ed25519 key pair (fast to make, and what ssh-keygen defaults to)."""
    private = ed25519.Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return GeneratedKey(f"{public.decode()} {GENERATED_COMMENT}", pem.decode())


def fingerprint(public_key: str) -> str:
    """``aa:bb:...``: the MD5 of the base64 blob (a label, not a security check)."""
    blob = base64.b64decode(public_key.split()[1])
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
