"""The targets identity policy is checked against, in Keystone's names: the
domain of the user, project or domain a request names, read from the
directory read model (a user's or project's domain never changes, so the
read model's answer cannot go stale). A thing the read model does not know
gets a target naming no domain: only a rule that needs none (the cloud's
admin) passes it, so a domain's admin is refused alike for what does not
exist and for what is another domain's, and learns nothing from the answer."""

from __future__ import annotations

from starlette.requests import Request

from api.context import state
from domain.values import Actor
from projections import identity as views

Target = dict[str, str]


def own_domain(actor: Actor, key: str) -> Target:
    """The caller's own domain as the target, for a check made before the
    request names one (a list, or a create before its body is read)."""
    return {key: actor.domain_id} if actor.domain_id else {}


async def user(request: Request, user_id: str) -> Target:
    row = await state(request).reads.one(views.user_by_id(user_id))
    target = {"user_id": user_id, "target.user.id": user_id}  # user_id: rule:owner's
    if row is not None:
        target["target.user.domain_id"] = row["domain_id"]
    return target


async def project(request: Request, project_id: str) -> Target:
    row = await state(request).reads.one(views.project_by_id(project_id))
    target = {"project_id": project_id, "target.project.id": project_id}
    if row is not None:
        target["target.project.domain_id"] = row["domain_id"]
    return target


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
