"""Billing commands: an admin's credit to a project, a compensating event on
the project's billing Account (created with its first credit)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from commands.app import CloudApp
from commands.loading import load
from commands.receipt import Receipt
from commands.retry import retrying
from domain.billing import Account, require_currency
from domain.errors import Forbidden, NotFound
from domain.identity import Project
from domain.values import Actor, require_text


@dataclass(frozen=True)
class CreditAccount:
    project_id: str
    amount: Decimal
    currency: str
    reason: str
    reference: str = ""  # the same reference twice credits once


@retrying
def credit_account(cmd: CreditAccount, app: CloudApp, actor: Actor) -> Receipt:
    """Record the credit; the next invoice shows it as a negative line. A
    reference already credited appends nothing (the receipt has no events)."""
    if not actor.is_admin:
        raise Forbidden("Only admins credit a project")
    require_currency(cmd.currency)
    require_text(cmd.reason, "Reason")
    _require_project(app, cmd.project_id)
    try:
        account: Account = app.repository.get(Account.create_id(cmd.project_id))
    except AggregateNotFoundError:
        account = Account(cmd.project_id, actor)
    if not account.credit(cmd.amount, cmd.currency, cmd.reason, actor, cmd.reference):
        return Receipt(account.id)
    return Receipt.of(account.id, app.save(account))


def _require_project(app: CloudApp, project_id: str) -> None:
    """Credits go to projects that exist (or existed: a deleted project's
    last bill may still need one)."""
    label = f"Project {project_id[:64]}"
    try:
        aggregate_id = UUID(hex=project_id)
    except ValueError:
        raise NotFound(f"{label} could not be found.") from None
    load(app, Project, aggregate_id, label)
