"""The billing Account aggregate, one per project: late facts about what a
project owes, such as an admin's credit, recorded as new compensating events
(never an edit of the usage they correct). The next invoice shows them."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput
from domain.values import Actor, natural_id, require_text

MAX_CREDIT = Decimal("1000000")
CREDIT_PLACES = 4  # the most decimals a credit may name
_CURRENCY = re.compile(r"[A-Z]{3}")  # an ISO 4217 code


def parse_amount(text: str) -> Decimal:
    """A credit's amount: a positive decimal of at most 4 places, at most
    1,000,000 (text, so that no float rounds it on the way)."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInput(f"Invalid amount {text[:40]!r}: use a decimal such as 10.00") from None
    if not amount.is_finite() or amount <= 0 or amount > MAX_CREDIT:
        raise InvalidInput(f"Amount must be above 0 and at most {MAX_CREDIT}")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -CREDIT_PLACES:
        raise InvalidInput(f"Amount must have at most {CREDIT_PLACES} decimal places")
    return amount


def require_currency(currency: str) -> None:
    if not _CURRENCY.fullmatch(currency):
        raise InvalidInput(f"Invalid currency {currency[:10]!r}: use a code such as EUR")


class Account(Aggregate):
    """What a project was credited, by currency."""

    class Opened(Aggregate.Created):
        project_id: str
        actor: Actor

    @staticmethod
    def create_id(project_id: str, **_: object) -> UUID:
        return natural_id("billing-account", project_id)

    @event(Opened)
    def __init__(self, project_id: str, actor: Actor) -> None:
        self.project_id = project_id
        self.credited: dict[str, Decimal] = {}
        self.references: set[str] = set()

    def credit(
        self, amount: Decimal, currency: str, reason: str, actor: Actor, reference: str = ""
    ) -> bool:
        """Credit the project; the amount is checked by ``parse_amount``'s
        rules. A credit naming a reference already credited changes nothing
        (False), so an operator may safely run the same correction again."""
        if not amount.is_finite() or amount <= 0 or amount > MAX_CREDIT:
            raise InvalidInput(f"Amount must be above 0 and at most {MAX_CREDIT}")
        require_currency(currency)
        require_text(reason, "Reason")
        if reference:
            require_text(reference, "Reference")
            if reference in self.references:
                return False
        self._credited(self.project_id, amount, currency, reason, reference, actor)
        return True

    class Credited(Aggregate.Event):
        project_id: str
        amount: Decimal
        currency: str
        reason: str
        reference: str  # the operator's id for this correction, "" for none
        actor: Actor

    @event(Credited)
    def _credited(
        self,
        project_id: str,
        amount: Decimal,
        currency: str,
        reason: str,
        reference: str,
        actor: Actor,
    ) -> None:
        self.credited[currency] = self.credited.get(currency, Decimal(0)) + amount
        if reference:
            self.references.add(reference)
