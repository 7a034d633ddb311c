"""Who sees an image: Glance's visibility rules and its member statuses."""

from __future__ import annotations

from collections.abc import Mapping

from domain.errors import InvalidInput

MEMBER_STATUSES = ("pending", "accepted", "rejected")


def require_member_status(status: object) -> str:
    if not isinstance(status, str) or status not in MEMBER_STATUSES:
        raise InvalidInput(f"Provided member status {status!r} is not valid")
    return status


def can_see(
    owner: str,
    visibility: str,
    members: Mapping[str, str],
    project_id: str,
    is_admin: bool,
    any_member_status: bool = True,
) -> bool:
    """Glance's rule: admins see all; everyone sees public and community
    images; the owner sees its own; a member sees a shared image (a named
    image, whatever its status; in lists only once accepted)."""
    if is_admin or owner == project_id or visibility in ("public", "community"):
        return True
    if visibility != "shared" or project_id not in members:
        return False
    return any_member_status or members[project_id] == "accepted"
