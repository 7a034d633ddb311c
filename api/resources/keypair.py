"""Compute's keypairs."""

from __future__ import annotations

from api import keypairs
from api.declarations import ApiResource

RESOURCE = ApiResource(
    "keypair",
    [*keypairs.routes],
)
