"""Identity policy checked against what a request names, in Keystone's
target names: the domain of each user or project it names, read from the
directory read model (a user's or project's domain never changes, so the
read model's answer cannot go stale).

The rule is asked twice: first before anything is read, with the caller's
own domain standing in for the domains to be found, so a caller no domain
could help is refused before the read model is asked anything; then with
what was found. A user or project the read model does not know gets no
domain: only a rule that needs none (the cloud's admin) passes it, so a
domain's admin is refused alike for what does not exist and for what is
another domain's, and learns nothing from the answer."""

from __future__ import annotations

from enum import Enum

from starlette.requests import Request

from api.context import state
from domain.values import Actor
from projections import identity as views

Target = dict[str, str]
USER, PROJECT = "user", "project"
_DOMAIN_KEY = {USER: "target.user.domain_id", PROJECT: "target.project.domain_id"}


def own_domain(actor: Actor, key: str) -> Target:
    """The caller's own domain as the target, for a check made before the
    request names one (a list, or a create before its body is read)."""
    return {key: actor.domain_id} if actor.domain_id else {}


class Verdict(Enum):
    ALLOWED = "allowed"
    REFUSED = "refused"  # whatever it named: no domain of the caller's would do
    HIDDEN = "hidden"  # the caller may, in its own domain, but not on what it named


async def verdict(
    request: Request,
    actor: Actor,
    rule: str,
    named: dict[str, str],
    known: Target | None = None,
) -> Verdict:
    """The rule on the users and projects ``named`` (kind -> id) and on
    what else is ``known`` of the target."""
    policy = state(request).policy
    target = dict(known or {})
    for kind, thing_id in named.items():
        target.update(_ids(kind, thing_id))
    standing_in = {_DOMAIN_KEY[kind]: actor.domain_id for kind in named if actor.domain_id}
    if not policy.allowed(actor, rule, {**target, **standing_in}):
        return Verdict.REFUSED
    for kind, thing_id in named.items():
        domain_id = await _domain_of(request, kind, thing_id)
        if domain_id is not None:
            target[_DOMAIN_KEY[kind]] = domain_id
    return Verdict.ALLOWED if policy.allowed(actor, rule, target) else Verdict.HIDDEN


async def enforce(
    request: Request,
    actor: Actor,
    rule: str,
    named: dict[str, str],
    known: Target | None = None,
    *,
    hidden_as: Exception | None = None,
) -> None:
    """PolicyDenied (403) unless allowed; or ``hidden_as`` when hidden (a
    read answers as if what it named did not exist)."""
    found = await verdict(request, actor, rule, named, known)
    if found is Verdict.HIDDEN and hidden_as is not None:
        raise hidden_as
    if found is not Verdict.ALLOWED:
        state(request).policy.refuse(actor, rule)


def _ids(kind: str, thing_id: str) -> Target:
    # user_id and project_id: the keys rule:owner and rule:project_reader read.
    return {f"{kind}_id": thing_id, f"target.{kind}.id": thing_id}


async def _domain_of(request: Request, kind: str, thing_id: str) -> str | None:
    query = views.user_by_id(thing_id) if kind == USER else views.project_by_id(thing_id)
    row = await state(request).reads.one(query)
    return None if row is None else str(row["domain_id"])


def domain(domain_id: str) -> Target:
    """A domain is its own id: a domain's admin matches only its own."""
    return {"target.domain.id": domain_id}


def listed_domain(actor: Actor, asked: str | None) -> tuple[str | None, bool]:
    """The domain a listing is filtered to, and whether anything can match.
    A domain-scoped token lists its own domain only, whatever it asks for
    (Keystone's rule: a domain's users see nothing of other domains)."""
    if not actor.domain_id:
        return asked, True
    return actor.domain_id, asked in (None, actor.domain_id)
