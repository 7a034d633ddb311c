"""Unique names through NameClaim aggregates (domain/names.py): who holds
a name, and taking or freeing one in the same save as its holder."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from commands.app import CloudApp
from domain.domains import DEFAULT_DOMAIN_ID
from domain.errors import Conflict
from domain.names import NameClaim
from domain.values import Actor, natural_id

NOBODY = Actor("system", "", (), "")  # a claim's creation is not anyone's act
# Kinds whose first versions derived ids from names (see first_holder).
_NAME_DERIVED_IDS = ("project", "user")


def holder_of(app: CloudApp, kind: str, scope: str, name: str) -> UUID | None:
    """The aggregate id that holds a name now, or None if it is free."""
    claim = claim_of(app, kind, scope, name)
    return UUID(claim.holder_id) if claim.holder_id else None


def claim_of(app: CloudApp, kind: str, scope: str, name: str) -> NameClaim:
    """The claim on a name; a new one if none was saved yet."""
    stored = _stored_claim(app, kind, scope, name)
    if stored is not None:
        return stored
    return NameClaim(kind, scope, name, first_holder(app, kind, scope, name), NOBODY)


def take(
    app: CloudApp, kind: str, scope: str, name: str, holder_id: str, what: str, actor: Actor
) -> NameClaim:
    """The claim on a name, now held by ``holder_id``; Conflict if taken."""
    claim = _stored_claim(app, kind, scope, name)
    if claim is None:
        if first_holder(app, kind, scope, name) not in ("", holder_id):
            raise Conflict(f"{what} {name} already exists")
        return NameClaim(kind, scope, name, holder_id, actor)
    claim.take(holder_id, what, actor)
    return claim


def renamed(
    app: CloudApp,
    kind: str,
    scope: str,
    names: tuple[str, str],
    holder_id: str,
    what: str,
    actor: Actor,
) -> list[NameClaim]:
    """The claims a rename from ``names[0]`` to ``names[1]`` changes."""
    old, new = names
    if old == new:
        return []
    taken = take(app, kind, scope, new, holder_id, what, actor)
    freed = claim_of(app, kind, scope, old)
    freed.release(holder_id, actor)
    return [taken, freed]


def _stored_claim(app: CloudApp, kind: str, scope: str, name: str) -> NameClaim | None:
    try:
        claim: NameClaim = app.repository.get(NameClaim.create_id(kind, scope, name))
    except AggregateNotFoundError:
        return None
    return claim


def first_holder(app: CloudApp, kind: str, scope: str, name: str) -> str:
    """Who holds a name never claimed: "Default" is the default domain's,
    seeded or not; projects and users made before claims existed have ids
    derived from their names, and hold them."""
    if kind == "domain":
        return DEFAULT_DOMAIN_ID if name == "Default" else ""
    if kind not in _NAME_DERIVED_IDS or scope != DEFAULT_DOMAIN_ID:
        return ""
    legacy = natural_id(kind, name)
    return legacy.hex if legacy in app.repository else ""
