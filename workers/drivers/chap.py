"""Per-volume CHAP credentials derived from one storage key (HMAC-SHA256 of
the volume id), so no secret is ever stored in the ledger, put in a job's
arguments or sent by the API: the volume worker (for tgtd) and the compute
worker (for its connector) each derive the volume's secret when they need
it, from the key only they hold (docs/block-storage.md)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from workers.drivers.iscsi import canonical_volume_id

KEY_BYTES = 32


@dataclass(frozen=True)
class ChapCredentials:
    """A volume's CHAP account; the secret is never in a repr."""

    user: str
    secret: str = field(repr=False)


def chap_for(key: bytes, volume_id: str) -> ChapCredentials:
    """The volume's CHAP account: the same for the same key and volume, and
    unrelated between volumes (knowing one secret tells nothing of another)."""
    if len(key) < KEY_BYTES:
        raise ValueError(f"a CHAP key has at least {KEY_BYTES} bytes")
    canonical = canonical_volume_id(volume_id)
    mac = hmac.new(key, f"cloudledger-chap:{canonical}".encode(), hashlib.sha256).digest()
    # 144 bits in 24 characters of A-Z a-z 0-9 - _ (safe on every option line).
    secret = base64.urlsafe_b64encode(mac[:18]).decode()
    return ChapCredentials(f"vol-{canonical.replace('-', '')}", secret)


def load_or_create_key(path: Path) -> bytes:
    """The storage key in `path` (mode 0600), made on first use. Every host
    that exports or attaches volumes needs the same key: copy it there as
    the token key is copied to API nodes."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # A complete file under a private name, linked into place: concurrent
        # first starts agree on one key and none reads half of it.
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(KEY_BYTES))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
    return bytes.fromhex(path.read_text().strip())
