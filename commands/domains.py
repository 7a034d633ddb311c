"""Domains: Keystone's containers of projects and users. Create, rename,
disable and delete them; the default one exists even before it is seeded."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import uuid4

from eventsourcing.application import AggregateNotFoundError

from commands.app import CloudApp
from commands.names import NOBODY, claim_of, renamed, take
from commands.receipt import Receipt
from domain.domains import DEFAULT_DOMAIN_ID, Domain
from domain.errors import InvalidInput, NotFound
from domain.values import Actor, require_text

MAX_NAME = 64  # Keystone's limit for project and domain names; users get 255


@dataclass(frozen=True)
class CreateDomain:
    name: str
    description: str = ""
    enabled: bool = True
    domain_id: str = ""  # chosen by the cloud unless seeding "default"


@dataclass(frozen=True)
class UpdateDomain:
    domain_id: str
    name: str | None = None
    description: str | None = None
    enabled: bool | None = None


def create_domain(cmd: CreateDomain, app: CloudApp, actor: Actor) -> Receipt:
    require_text(cmd.name, "Domain name", MAX_NAME)
    require_description(cmd.description)
    domain_id = cmd.domain_id or uuid4().hex
    domain = Domain(domain_id=domain_id, name=cmd.name, description=cmd.description, actor=actor)
    claim = take(app, "domain", "", cmd.name, domain_id, "Domain", actor)
    if not cmd.enabled:
        domain.update(cmd.name, cmd.description, False, actor)
    return Receipt.of(domain.id, app.save(domain, claim))


def update_domain(cmd: UpdateDomain, app: CloudApp, actor: Actor) -> Receipt:
    domain = load_domain(app, cmd.domain_id, create_default=True)
    name = domain.name if cmd.name is None else cmd.name
    require_text(name, "Domain name", MAX_NAME)
    require_description(cmd.description or "")
    claims = renamed(app, "domain", "", (domain.name, name), domain.domain_id, "Domain", actor)
    domain.update(
        name,
        domain.description if cmd.description is None else cmd.description,
        domain.enabled if cmd.enabled is None else cmd.enabled,
        actor,
    )
    return Receipt.of(domain.id, app.save(domain, *claims))


def delete_domain(domain_id: str, app: CloudApp, actor: Actor) -> Receipt:
    """The caller checked that no project or user is left in it."""
    domain = load_domain(app, domain_id)
    domain.delete(actor)
    claim = claim_of(app, "domain", "", domain.name)
    claim.release(domain.domain_id, actor)
    return Receipt.of(domain.id, app.save(domain, claim))


def load_domain(app: CloudApp, domain_id: str, create_default: bool = False) -> Domain:
    """A domain that exists. The default one is seeded at first start; a
    ledger from before domains (or a test) may lack it: then it is made."""
    try:
        domain: Domain = app.repository.get(Domain.create_id(domain_id))
    except AggregateNotFoundError:
        if domain_id == DEFAULT_DOMAIN_ID and create_default:
            return Domain(DEFAULT_DOMAIN_ID, "Default", "The default domain", NOBODY)
        raise NotFound(f"Could not find domain: {domain_id}.") from None
    if not isinstance(domain, Domain) or domain.deleted:
        raise NotFound(f"Could not find domain: {domain_id}.")
    return domain


def domain_enabled(app: CloudApp, domain_id: str) -> bool:
    try:
        return load_domain(app, domain_id, create_default=True).enabled
    except NotFound:
        return False


def usable_domain(app: CloudApp, domain_id: str) -> None:
    """New projects and users go only into a domain that exists and is enabled."""
    if not domain_enabled(app, domain_id):
        load_domain(app, domain_id)  # 404 if it does not exist at all
        raise InvalidInput(f"Domain {domain_id} is disabled")


def domain_id_named(app: CloudApp, name: str) -> str:
    """Claims of domain names hold the domain's public id, not its uuid."""
    holder = claim_of(app, "domain", "", name).holder_id
    if not holder:
        raise NotFound(f"Could not find domain: {name}.")
    return holder


def require_description(description: str) -> None:
    """Stored in events and read models: printable text, as names are."""
    require_text(description, "Description", 255, allow_empty=True)
