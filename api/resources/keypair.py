"""Compute's keypairs."""

from __future__ import annotations

from api import keypairs
from api.declarations import ApiResource

# Keypairs belong to a user (the target's user_id); readers only read them.
_READ = "rule:admin_api or (role:reader and rule:owner)"
_CHANGE = "rule:admin_api or (role:member and rule:owner)"

RESOURCE = ApiResource(
    "keypair",
    [*keypairs.routes],
    policy={
        "compute:keypairs:index": _READ,
        "compute:keypairs:show": _READ,
        "compute:keypairs:create": _CHANGE,
        "compute:keypairs:delete": _CHANGE,
    },
)
