"""Identity v3: tokens and the catalog, domains, projects, users and roles.
Its rules take any token their check lets through (domain-scoped, system,
unscoped), as Keystone's do; a domain's admin or reader passes some of
them in their own domain."""

from __future__ import annotations

from api import directory, identity, roles, users
from api.declarations import ApiResource, CatalogEntry, Rule, Service
from api.error_shapes import KeystoneErrors
from api.policy import ADMIN, READER


def _domain(role: str, *targets: str) -> str:
    """The role on a domain (a domain-scoped token) that every target is in."""
    return "(" + " and ".join([f"role:{role}"] + [f"domain_id:%({t})s" for t in targets]) + ")"


def _grants(role: str) -> str:
    """Keystone's: a domain's admin (or reader) grants (or reads) roles of
    its own users, on its own domain or on its own projects."""
    on_project = _domain(role, "target.user.domain_id", "target.project.domain_id")
    on_domain = _domain(role, "target.user.domain_id", "target.domain.id")
    return f"{ADMIN} or {on_project} or {on_domain}"


_DOMAIN_LISTS = f"{ADMIN} or {_domain('reader', 'target.domain_id')}"  # filtered to it
_PROJECT_ADMIN = f"{ADMIN} or {_domain('admin', 'target.project.domain_id')}"
_USER_ADMIN = f"{ADMIN} or {_domain('admin', 'target.user.domain_id')}"
_USER_READER = f"{ADMIN} or rule:owner or {_domain('reader', 'target.user.domain_id')}"
# Role names are the cloud's; a domain's admin needs them to grant them.
_ROLE_NAMES = f"{ADMIN} or (role:admin and not domain_id:None)"
_ANY_TOKEN = "@"  # noqa: S105 (a rule, not a password): unscoped tokens too

POLICY: dict[str, str | Rule] = {
    # Tokens: the target's user_id is the subject token's user.
    "identity:validate_token": "rule:admin_api or rule:service_api or rule:owner",
    "identity:revoke_token": "rule:admin_api or rule:owner",
    "identity:get_auth_projects": Rule(_ANY_TOKEN, "the projects a token may scope to", False),
    "identity:get_auth_domains": Rule(_ANY_TOKEN, "the domains a token may scope to", False),
    "identity:get_auth_catalog": Rule(_ANY_TOKEN, "the caller's own token's catalog", False),
    "identity:list_domains": ADMIN,
    "identity:get_domain": f"{ADMIN} or {_domain('reader', 'target.domain.id')}",
    "identity:create_domain": ADMIN,
    "identity:update_domain": ADMIN,
    "identity:delete_domain": ADMIN,
    "identity:list_projects": _DOMAIN_LISTS,
    # target: the project asked about
    "identity:get_project": f"{READER} or {_domain('reader', 'target.project.domain_id')}",
    "identity:create_project": _PROJECT_ADMIN,
    "identity:update_project": _PROJECT_ADMIN,
    "identity:delete_project": _PROJECT_ADMIN,
    "identity:list_user_projects": _USER_READER,
    "identity:list_users": _DOMAIN_LISTS,
    "identity:get_user": _USER_READER,
    "identity:create_user": _USER_ADMIN,
    "identity:update_user": _USER_ADMIN,
    "identity:delete_user": _USER_ADMIN,
    "identity:change_password": Rule("rule:owner", "only one's own password", False),
    "identity:list_roles": _ROLE_NAMES,
    "identity:get_role": _ROLE_NAMES,
    "identity:create_role": ADMIN,
    "identity:list_role_assignments": _DOMAIN_LISTS,
    "identity:list_grants": _grants("reader"),
    "identity:check_grant": _grants("reader"),
    "identity:create_grant": _grants("admin"),
    "identity:revoke_grant": _grants("admin"),
}

RESOURCE = ApiResource(
    "identity",
    [*identity.routes, *directory.routes, *users.routes, *roles.routes],
    policy=POLICY,
    project_scoped=False,
    public=(
        "GET /identity",
        "GET /identity/",
        "GET /identity/v3",
        "GET /identity/v3/",
        "POST /identity/v3/auth/tokens",  # logging in
    ),
    service=Service(
        "/identity",
        "Identity v3",
        catalog=(CatalogEntry("identity", "keystone", "/identity"),),
        errors=KeystoneErrors(),
    ),
)
