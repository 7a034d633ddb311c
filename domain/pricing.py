"""Pricing usage with a rate card: invoice lines in decimal money (never
floats), each line rounded by the card's own rule, totals summing the
rounded lines. Pure: the card arrives as a mapping (ops/billing_io.py reads
the YAML file)."""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.billing import require_currency
from domain.errors import InvalidInput
from domain.metering import MICROS_PER_SECOND, ProjectTotals
from domain.meters import METERS, SECONDS_PER_HOUR

ROUNDING_MODES = {
    "half-up": decimal.ROUND_HALF_UP,
    "half-even": decimal.ROUND_HALF_EVEN,
    "up": decimal.ROUND_UP,
    "down": decimal.ROUND_DOWN,
    "ceiling": decimal.ROUND_CEILING,
    "floor": decimal.ROUND_FLOOR,
}
QUANTITY_PLACES = 6  # quantities are shown to this many places (amounts use the exact ones)
PRECISION = 60  # digits for the exact products before rounding
_MICROS_PER_HOUR = SECONDS_PER_HOUR * MICROS_PER_SECOND
_METERS = {m.name: m for m in METERS}


class RateCardError(InvalidInput):
    """The rate card is malformed, or does not price some usage."""


@dataclass(frozen=True)
class RateCard:
    currency: str
    places: int  # each line's amount is rounded to this many decimals
    mode: str  # one of ROUNDING_MODES
    flavors: Mapping[str, Mapping[str, Decimal]]  # flavor -> state ("*": any) -> per hour
    units: Mapping[str, Decimal]  # meter name -> per unit

    @property
    def zero(self) -> Decimal:
        """Nothing, written to the card's places (an empty invoice's total)."""
        return Decimal(0).scaleb(-self.places)

    def round(self, amount: Decimal) -> Decimal:
        return amount.quantize(self.zero, rounding=ROUNDING_MODES[self.mode])

    def flavor_rate(self, flavor: str, state: str) -> Decimal:
        rates = self.flavors.get(flavor)
        if rates is None:
            raise RateCardError(f"The rate card has no rate for flavor {flavor!r}")
        rate = rates.get(state, rates.get("*"))
        if rate is None:
            raise RateCardError(f"The rate card has no rate for flavor {flavor!r} when {state}")
        return rate

    def unit_rate(self, meter: str) -> Decimal:
        if meter not in self.units:
            raise RateCardError(f"The rate card has no rate for {meter}")
        return self.units[meter]


def _money(value: Any, where: str) -> Decimal:
    """A rate: a non-negative decimal (YAML numbers arrive as Decimal or int)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise RateCardError(f"{where}: a rate must be a number, not {value!r:.40}")
    try:
        rate = Decimal(value)
    except decimal.InvalidOperation:
        raise RateCardError(f"{where}: {value!r:.40} is not a number") from None
    if not rate.is_finite() or rate < 0:
        raise RateCardError(f"{where}: a rate must be zero or more")
    return rate


def _section(card: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = card.get(key, {})
    if not isinstance(value, Mapping):
        raise RateCardError(f"{key}: must be a mapping")
    return value


def parse_rate_card(card: Any) -> RateCard:
    """A RateCard from the file's mapping, or RateCardError saying what is wrong."""
    if not isinstance(card, Mapping):
        raise RateCardError("The rate card must be a mapping (currency, rounding, flavors, units)")
    unknown = set(card) - {"currency", "rounding", "flavors", "units"}
    if unknown:
        raise RateCardError(f"Unknown key in the rate card: {sorted(map(str, unknown))[0]}")
    currency = card.get("currency")
    if not isinstance(currency, str):
        raise RateCardError("currency: required, a code such as EUR")
    try:
        require_currency(currency)
    except InvalidInput as exc:
        raise RateCardError(f"currency: {exc.message}") from None
    rounding = _section(card, "rounding")
    places, mode = rounding.get("places", 2), rounding.get("mode", "half-up")
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 8:
        raise RateCardError("rounding.places: a whole number from 0 to 8")
    if mode not in ROUNDING_MODES:
        raise RateCardError(f"rounding.mode: one of {', '.join(ROUNDING_MODES)}")
    flavors: dict[str, dict[str, Decimal]] = {}
    for name, rates in _section(card, "flavors").items():
        where = f"flavors.{name}"
        if isinstance(rates, Mapping):
            flavors[str(name)] = {str(s): _money(r, f"{where}.{s}") for s, r in rates.items()}
        else:
            flavors[str(name)] = {"*": _money(rates, where)}
    units = {str(k): _money(v, f"units.{k}") for k, v in _section(card, "units").items()}
    for meter in units:
        if meter not in _METERS:
            raise RateCardError(f"units.{meter}: no such meter (known: {', '.join(_METERS)})")
    return RateCard(currency, places, mode, flavors, units)


@dataclass(frozen=True)
class Credit:
    """A credit recorded in the ledger (Account.Credited)."""

    project_id: str
    amount: Decimal
    currency: str
    reason: str
    at: datetime
    credit_id: str  # the event's account and version, for a stable order


@dataclass(frozen=True)
class InvoiceLine:
    project_id: str
    kind: str  # "instance", "meter" or "credit"
    item: str
    quantity: Decimal
    unit: str
    rate: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Invoice:
    currency: str
    start: datetime
    stop: datetime
    lines: tuple[InvoiceLine, ...]
    zero: Decimal  # nothing, at the card's places

    def project_totals(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for line in self.lines:
            totals[line.project_id] = totals.get(line.project_id, self.zero) + line.amount
        return dict(sorted(totals.items()))

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), self.zero)


def _quantity(numerator: int, denominator: int) -> Decimal:
    exact = Decimal(numerator) / Decimal(denominator)
    return exact.quantize(Decimal(1).scaleb(-QUANTITY_PLACES), rounding=decimal.ROUND_HALF_EVEN)


def _project_lines(card: RateCard, totals: ProjectTotals) -> list[InvoiceLine]:
    lines = []
    for (kind, product, state), micros in sorted(totals.micros.items()):
        if kind != "instance":
            continue  # other resources are priced by their meters alone
        rate = card.flavor_rate(product, state)
        amount = card.round(rate * Decimal(micros) / _MICROS_PER_HOUR)
        quantity = _quantity(micros, _MICROS_PER_HOUR)
        lines.append(
            InvoiceLine(
                totals.project_id, kind, f"{product} {state}", quantity, "hour", rate, amount
            )
        )
    for meter in METERS:
        used = totals.meters.get(meter.name, 0)
        if not used:
            continue
        rate = card.unit_rate(meter.name)
        divisor = meter.divisor * MICROS_PER_SECOND
        amount = card.round(rate * Decimal(used) / divisor)
        quantity = _quantity(used, divisor)
        lines.append(
            InvoiceLine(totals.project_id, "meter", meter.name, quantity, meter.unit, rate, amount)
        )
    return lines


def _credit_line(card: RateCard, credit: Credit) -> InvoiceLine:
    if credit.currency != card.currency:
        raise RateCardError(
            f"A credit to {credit.project_id} is in {credit.currency}, the rate card in "
            f"{card.currency}; bill it with a {credit.currency} rate card"
        )
    return InvoiceLine(
        credit.project_id,
        "credit",
        credit.reason,
        Decimal(1),
        "credit",
        -credit.amount,
        card.round(-credit.amount),
    )


def price(
    card: RateCard,
    usage: Mapping[str, ProjectTotals],
    credits: Iterable[Credit],
    start: datetime,
    stop: datetime,
) -> Invoice:
    """The invoice for a period's usage and the credits recorded in it,
    lines ordered by project, then usage before credits."""
    with decimal.localcontext() as ctx:
        ctx.prec = PRECISION
        lines = [line for totals in usage.values() for line in _project_lines(card, totals)]
        ordered = sorted(credits, key=lambda c: (c.project_id, c.at, c.credit_id))
        lines.extend(_credit_line(card, c) for c in ordered)
    order = {"instance": 0, "meter": 1, "credit": 2}
    lines.sort(key=lambda line: (line.project_id, order[line.kind]))  # stable within a kind
    return Invoice(card.currency, start, stop, tuple(lines), card.zero)
