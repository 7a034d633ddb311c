"""Which of a server's fields each compute microversion shows, as Nova's
server view does: ``locked`` from 2.9, ``description`` from 2.19, ``tags``
from 2.26; ``progress`` only while a status makes progress; and the short
answer of ``PUT /servers/{id}`` (no extension fields before 2.75)."""

from __future__ import annotations

from typing import Any

_INTRODUCED = {"locked": (2, 9), "description": (2, 19), "tags": (2, 26)}
_PROGRESS_STATUSES = frozenset({"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE"})
# What Nova's update answer holds before 2.75 (besides the fields above).
_BASIC = frozenset(
    {
        "id",
        "name",
        "status",
        "image",
        "flavor",
        "fault",
        "user_id",
        "tenant_id",
        "created",
        "updated",
        "progress",
        "metadata",
        "links",
        "addresses",
        "hostId",
        "OS-DCF:diskConfig",
        "accessIPv4",
        "accessIPv6",
    }
)


def shown(
    server: dict[str, Any], version: tuple[int, int], *, basic: bool = False
) -> dict[str, Any]:
    """``server`` (every field this cloud knows) as ``version`` shows it;
    ``basic``: as the answer to an update."""
    hidden = {field for field, since in _INTRODUCED.items() if version < since}
    if server.get("status") not in _PROGRESS_STATUSES:
        hidden.add("progress")
    if basic and version < (2, 75):
        hidden |= {f for f in server if f not in _BASIC and f not in _INTRODUCED}
    return {field: value for field, value in server.items() if field not in hidden}
