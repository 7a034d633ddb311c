"""The secret the metadata proxies sign their requests with and the API
checks (workers/drivers/metadata_proxy.py): made on first use in the state
folder, mode 0600, shared by the API and the network workers of this cloud."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

FILE_NAME = "metadata.secret"


def metadata_secret(state_dir: Path) -> bytes:
    path = state_dir / FILE_NAME
    if not path.exists():
        # A complete file under a private name, then linked into place:
        # processes starting together agree on one secret, none reads half.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
    return bytes.fromhex(path.read_text().strip())
