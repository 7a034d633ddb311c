"""Policy: every API action names a rule, checked against the caller's token.

The defaults follow OpenStack's personas: an admin; a project member, who may
change the project's resources; a project reader, who may read them but
never change anything. A role holds where it was granted: the admin role on
the cloud's admin project makes the cloud's admin (``context_is_admin``,
Keystone's ``is_admin_project``); on a domain it makes that domain's admin,
who manages its projects, users and their roles and nothing else, as in
Keystone; on any other project it is that project's member and reader.
docs/identity-scope.md lists every admin check and the scope it needs.

Each rule a route asks is declared by its resource, with its default
(``policy`` in api/resources/<name>.py, found by api/registry.py); here
are the base rules and personas those defaults are built from, and the
engine that decides.

Operators override any rule in a policy file
(``CLOUDLEDGER_POLICY_FILE``) written in oslo.policy's YAML and rule language
(``role:``, ``rule:``, ``and``/``or``/``not``, ``%(project_id)s``, ``@``,
``!``), the engine Nova, Glance and Keystone use, so an operator's rules read
the same here: the credentials carry oslo.context's names (``user_id``,
``project_id``, ``project_domain_id``, ``domain_id``, ``system_scope``,
``is_admin_project``, ``roles``), identity targets Keystone's
(``target.user.domain_id``, ``target.project.domain_id``, ``target.domain.id``,
``target.domain_id``, ``target.role.name``). A file that does not parse, or
names a rule that does not exist, stops start-up with an error naming its
line."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import yaml
from oslo_config import cfg
from oslo_policy import _checks, _parser, policy

from api import registry
from api.declarations import Rule
from domain.errors import Forbidden
from domain.values import Actor

log = logging.getLogger(__name__)
access_log = logging.getLogger("cloudledger.access")  # denials, for audit

# The personas the resources' defaults are spelled with.
ADMIN = "rule:admin_api"
MEMBER = "rule:project_member_api"
READER = "rule:project_reader_api"

# Rules that other rules are built from (as in Nova's base policies).
BASE_RULES: dict[str, str] = {
    # The cloud's admin: the admin role on the cloud's admin project (or on
    # the system). Nova's and Glance's name; actor.is_admin is this verdict.
    "context_is_admin": "role:admin and (is_admin_project:True or system_scope:all)",
    "admin_api": "rule:context_is_admin",
    "project_member": "role:member and project_id:%(project_id)s",
    "project_reader": "role:reader and project_id:%(project_id)s",
    "project_member_api": "rule:admin_api or rule:project_member",
    "project_reader_api": "rule:admin_api or rule:project_reader",
    "service_api": "role:service",
    "owner": "user_id:%(user_id)s",  # per-user resources: the target names its user
}


# Keystone puts the roles a granted role implies in the token; so do we here.
_IMPLIED = {"admin": ("admin", "member", "reader"), "member": ("member", "reader")}


def implied_roles(role: str) -> tuple[str, ...]:
    """A role and the roles it implies (Keystone: admin > member > reader)."""
    return _IMPLIED.get(role, (role,))


class PolicyDenied(Forbidden):
    """A policy refusal (403), naming the rule and who was refused, for audit."""

    def __init__(self, rule: str, actor: Actor) -> None:
        super().__init__(f"Policy doesn't allow {rule} to be performed.")
        self.rule, self.actor = rule, actor


class PolicyFileError(Exception):
    """The operator's policy file cannot be used; the message names the line."""


class Policy:
    """The rules in force: the defaults (``rules``: every resource's, as
    declared in api/resources/, unless given), with the policy file's on top.

    The file is read once, at start-up. Decisions are then pure functions of
    (rule, target, credentials), so they are cached: oslo.policy spends about
    0.2 ms on a rule of a few checks, a cached decision about 2 µs."""

    def __init__(
        self, policy_file: Path | None = None, rules: Mapping[str, Rule] | None = None
    ) -> None:
        self._rules = dict(registry.tables().policy if rules is None else rules)
        conf = cfg.ConfigOpts()
        conf([], project="cloudledger", default_config_files=[])
        self._enforcer = policy.Enforcer(
            conf, policy_file=str(policy_file) if policy_file else None, use_conf=True
        )
        # Only the file named here: no policy.d or /etc/cloudledger search.
        conf.set_override("policy_dirs", [], "oslo_policy")
        defaults = {**{n: Rule(c) for n, c in BASE_RULES.items()}, **self._rules}
        self._enforcer.register_defaults(
            [policy.RuleDefault(n, r.check, r.description) for n, r in defaults.items()]
        )
        if policy_file is not None:
            _check_file(policy_file, set(defaults))
        else:  # not oslo's default search for policy.yaml in /etc and ~
            self._enforcer.policy_file = "/nonexistent/cloudledger-policy.yaml"
        self._enforcer.load_rules()
        if not self._enforcer.check_rules():  # a cycle of rule: references
            raise PolicyFileError(f"{policy_file}: its rules refer to each other in a cycle")
        self._enforcer.use_conf = False  # loaded: never read the file again
        self._decide = functools.lru_cache(maxsize=8192)(self._decide_uncached)

    def allowed(self, actor: Actor, rule: str, target: Mapping[str, str] | None = None) -> bool:
        declared = self._rules.get(rule)
        if declared is None:
            raise KeyError(f"no policy rule named {rule}")  # a route without a rule is a bug
        if not actor.project_id and declared.project_scoped:
            return False  # compute, images, networks need a project-scoped token
        scope = {"project_id": actor.project_id, **(target or {})}
        return self._decide(rule, tuple(sorted(scope.items())), credentials(actor))

    def knows(self, name: str) -> bool:
        return name in self._rules or name in BASE_RULES

    def allowed_rule(self, actor: Actor, name: str) -> bool:
        """Any rule by name, base rules too (property protections' ``policies``
        format names rules such as ``context_is_admin``)."""
        if not self.knows(name):
            return False
        return self._decide(name, (("project_id", actor.project_id),), credentials(actor))

    def is_cloud_admin(self, actor: Actor) -> bool:
        """Whether the actor's token makes the cloud's admin (Nova's
        ``context.is_admin``): ``context_is_admin``, whatever its roles say."""
        return self.allowed_rule(replace(actor, cloud_admin=False), "context_is_admin")

    def enforce(self, actor: Actor, rule: str, target: Mapping[str, str] | None = None) -> None:
        if not self.allowed(actor, rule, target):
            self.refuse(actor, rule)

    def refuse(self, actor: Actor, rule: str) -> NoReturn:
        """The 403 of a denial, logged for audit."""
        access_log.warning(
            "denied %s to user %s of project %s (request %s)",
            rule,
            actor.user_id,
            actor.project_id or f"(domain {actor.domain_id})",
            actor.request_id,
        )
        raise PolicyDenied(rule, actor)

    def _decide_uncached(
        self, rule: str, target: tuple[tuple[str, str], ...], creds: Credentials
    ) -> bool:
        return bool(self._enforcer.authorize(rule, dict(target), creds.as_dict()))


@dataclass(frozen=True)
class Credentials:
    """What oslo.policy's checks read, by oslo.context's names; what a token
    leaves unset is None, as there (so ``not domain_id:None`` reads the same).
    Hashable: decisions are cached on it."""

    user_id: str
    project_id: str | None
    project_domain_id: str | None
    domain_id: str | None
    system_scope: str | None
    is_admin_project: bool
    roles: tuple[str, ...]  # with the roles they imply

    def as_dict(self) -> dict[str, object]:
        return {**vars(self), "roles": list(self.roles)}


def credentials(actor: Actor) -> Credentials:
    """An actor the cloud made itself (``cloud_admin`` None: seeding, ops
    tools) holds its roles cloud-wide, as it always did."""
    return Credentials(
        user_id=actor.user_id,
        project_id=actor.project_id or None,
        project_domain_id=actor.project_domain_id or None,
        domain_id=actor.domain_id or None,
        system_scope=actor.system_scope or None,
        is_admin_project=actor.is_admin_project or actor.cloud_admin is None,
        roles=tuple(sorted({r for role in actor.roles for r in implied_roles(role)})),
    )


def _check_file(path: Path, known: set[str]) -> None:
    """Every rule the file sets must exist and parse; errors name the line."""
    try:
        root = yaml.compose(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyFileError(f"{path}: cannot read it as YAML: {exc}") from None
    if root is None:
        return  # an empty file overrides nothing
    if not isinstance(root, yaml.MappingNode):
        raise PolicyFileError(f"{path}: expected a mapping of rule names to rules")
    for key, value in root.value:
        line = key.start_mark.line + 1
        name = key.value
        if name not in known:
            raise PolicyFileError(f"{path}, line {line}: unknown rule {name!r}")
        if not isinstance(value, yaml.ScalarNode):
            raise PolicyFileError(f"{path}, line {line}: the rule for {name!r} must be a string")
        check = _parsed(str(value.value))
        if check is None:
            raise PolicyFileError(f"{path}, line {line}: cannot parse rule {value.value!r}")
        for referenced in _references(check):
            if referenced not in known:
                raise PolicyFileError(f"{path}, line {line}: no rule named {referenced!r}")


def _parsed(text: str) -> Any:
    """The rule as oslo.policy reads it, or None if it cannot: it turns such a
    rule into "never" (and logs), which a rule may also say on purpose (``!``)."""
    logging.disable(logging.ERROR)  # its own traceback is noise here: we report the line
    try:
        check: Any = _parser.parse_rule(text)
    finally:
        logging.disable(logging.NOTSET)
    if isinstance(check, _checks.FalseCheck) and text.strip() != "!":
        return None
    return check


def _references(check: Any) -> list[str]:
    """The rule names a parsed rule refers to (``rule:NAME``), however nested."""
    if isinstance(check, _checks.RuleCheck):
        return [check.match]
    if isinstance(check, _checks.NotCheck):
        return _references(check.rule)
    if isinstance(check, _checks.AndCheck | _checks.OrCheck):
        return [name for part in check.rules for name in _references(part)]
    return []
