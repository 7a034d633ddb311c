"""A project's billing account (domain/billing.py): the billing tools read
its events from the ledger itself, so no view follows them."""

from __future__ import annotations

from domain.billing import Account
from domain.declarations import DomainResource

RESOURCE = DomainResource(
    "billing",
    aggregates=(Account,),
    unwatched=(Account.Opened, Account.Credited),
)
