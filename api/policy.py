"""Role-based policy: every route names one rule, checked against the token."""

from __future__ import annotations

from domain.errors import Forbidden
from domain.values import Actor

ADMIN, MEMBER, READER = "admin", "member", "reader"
# Higher roles imply lower ones, as Keystone's default role hierarchy does.
_IMPLIED = {ADMIN: {ADMIN, MEMBER, READER}, MEMBER: {MEMBER, READER}, READER: {READER}}

RULES: dict[str, str] = {
    "identity:validate_token": READER,
    "compute:servers:create": MEMBER,
    "compute:servers:index": READER,
    "compute:servers:show": READER,
    "compute:servers:delete": MEMBER,
    "compute:servers:stop": MEMBER,
    "compute:servers:start": MEMBER,
    "compute:servers:index:all_tenants": ADMIN,
    "compute:flavors:index": READER,
    "compute:flavors:create": ADMIN,
    "compute:flavors:delete": ADMIN,
    "compute:quotas:show": READER,
    "compute:quotas:show:other_project": ADMIN,
    "compute:quotas:update": ADMIN,
    "compute:limits": READER,
    "image:add_image": MEMBER,
    "image:upload_image": MEMBER,
    "image:download_image": READER,
    "image:get_images": READER,
    "image:get_image": READER,
    "image:delete_image": MEMBER,
}


def allowed(actor: Actor, rule: str) -> bool:
    needed = RULES[rule]  # KeyError on an unknown rule: a route without a rule is a bug
    granted: set[str] = set()
    for role in actor.roles:
        granted |= _IMPLIED.get(role, set())
    return needed in granted


def enforce(actor: Actor, rule: str) -> None:
    if not allowed(actor, rule):
        raise Forbidden(f"Policy doesn't allow {rule} to be performed.")
