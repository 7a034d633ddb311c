"""Pricing usage with a rate card: decimal money, the card's rounding and
currency, credits as negative lines, and clear errors for what it cannot price."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.billing import Account, parse_amount
from domain.errors import InvalidInput
from domain.metering import ProjectTotals
from domain.meters import GIB
from domain.pricing import Credit, RateCardError, parse_rate_card, price
from domain.values import SYSTEM

START, STOP = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
HOUR = 3600 * 10**6  # microseconds


def _card(**changes: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "currency": "EUR",
        "rounding": {"places": 2, "mode": "half-up"},
        "flavors": {"m1.tiny": "0.01", "m1.small": {"active": "0.04", "stopped": "0.005"}},
        "units": {
            "vcpu_hours": "0",
            "ram_mb_hours": "0",
            "root_gb_hours": "0.0001",
            "ephemeral_gb_hours": "0.0001",
            "image_gb_hours": "0.0002",
        },
    }
    card.update(changes)
    return card


def _usage(micros: dict[tuple[str, str, str], int], **meters: int) -> dict[str, ProjectTotals]:
    return {"p1": ProjectTotals("p1", micros, meters)}


def test_instance_hours_are_priced_per_flavor_and_state() -> None:
    usage = _usage(
        {
            ("instance", "m1.small", "active"): 10 * HOUR,
            ("instance", "m1.small", "stopped"): 3 * HOUR,
            ("instance", "m1.tiny", "active"): HOUR // 2,
        },
        root_gb_hours=20 * 13 * HOUR,
    )
    invoice = price(parse_rate_card(_card()), usage, [], START, STOP)
    assert [(x.item, str(x.quantity), str(x.amount)) for x in invoice.lines] == [
        ("m1.small active", "10.000000", "0.40"),
        ("m1.small stopped", "3.000000", "0.02"),  # 0.015 rounded half-up
        ("m1.tiny active", "0.500000", "0.01"),  # 0.005 rounded half-up
        ("root_gb_hours", "260.000000", "0.03"),  # 0.026
    ]
    assert invoice.total == Decimal("0.46")
    assert invoice.project_totals() == {"p1": Decimal("0.46")}


@pytest.mark.parametrize(
    ("mode", "amount"), [("half-up", "0.02"), ("half-even", "0.02"), ("down", "0.01")]
)
def test_each_line_is_rounded_by_the_cards_rule(mode: str, amount: str) -> None:
    card = parse_rate_card(_card(rounding={"places": 2, "mode": mode}))
    usage = _usage({("instance", "m1.small", "stopped"): 3 * HOUR})  # 0.015
    assert str(price(card, usage, [], START, STOP).lines[0].amount) == amount


def test_money_is_exact_where_floats_would_drift() -> None:
    card = parse_rate_card(_card(rounding={"places": 8, "mode": "half-even"}))
    usage = _usage({("instance", "m1.tiny", "active"): 3 * HOUR})
    # 3 x 0.01 in floats is 0.030000000000000002
    assert price(card, usage, [], START, STOP).lines[0].amount == Decimal("0.03000000")


def test_image_storage_is_priced_by_its_meter_only() -> None:
    usage = _usage({("image", "image", "active"): HOUR}, image_gb_hours=100 * HOUR * GIB)
    (line,) = price(parse_rate_card(_card()), usage, [], START, STOP).lines
    assert (line.item, line.unit, str(line.quantity), str(line.amount)) == (
        "image_gb_hours",
        "GB-hour",
        "100.000000",
        "0.02",
    )


def test_a_credit_is_a_negative_line_after_the_usage() -> None:
    credit = Credit("p1", Decimal("10.00"), "EUR", "outage", START, "a/1")
    usage = _usage({("instance", "m1.tiny", "active"): 100 * HOUR})
    invoice = price(parse_rate_card(_card()), usage, [credit], START, STOP)
    assert [(x.kind, str(x.amount)) for x in invoice.lines] == [
        ("instance", "1.00"),
        ("credit", "-10.00"),
    ]
    assert invoice.total == Decimal("-9.00")


def test_a_credit_in_another_currency_is_refused() -> None:
    credit = Credit("p1", Decimal("10"), "USD", "outage", START, "a/1")
    with pytest.raises(RateCardError, match="in USD"):
        price(parse_rate_card(_card()), {}, [credit], START, STOP)


def test_no_usage_is_an_empty_invoice_with_a_zero_total() -> None:
    invoice = price(parse_rate_card(_card()), {}, [], START, STOP)
    assert invoice.lines == () and str(invoice.total) == "0.00"


def test_usage_of_a_flavor_the_card_does_not_price_is_an_error() -> None:
    usage = _usage({("instance", "m1.huge", "active"): HOUR})
    with pytest.raises(RateCardError, match=r"no rate for flavor 'm1\.huge'"):
        price(parse_rate_card(_card()), usage, [], START, STOP)
    usage = _usage({("instance", "m1.small", "paused"): HOUR})
    with pytest.raises(RateCardError, match="when paused"):
        price(parse_rate_card(_card()), usage, [], START, STOP)


def test_a_used_meter_without_a_rate_is_an_error() -> None:
    card = parse_rate_card(_card(units={}))
    with pytest.raises(RateCardError, match="no rate for vcpu_hours"):
        price(card, _usage({}, vcpu_hours=HOUR), [], START, STOP)


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ([], "must be a mapping"),
        (_card(currency="euro"), "currency"),
        (_card(rounding={"places": 12}), "rounding.places"),
        (_card(rounding={"mode": "nearest"}), "rounding.mode"),
        (_card(flavors={"m1.tiny": "-1"}), "zero or more"),
        (_card(flavors={"m1.tiny": "cheap"}), "not a number"),
        (_card(flavors={"m1.tiny": 0.01}), "must be a number"),  # a float: never money
        (_card(units={"vcpu_hourz": "1"}), "no such meter"),
        (_card(discount="5%"), "Unknown key"),
    ],
)
def test_a_malformed_rate_card_says_what_is_wrong(card: Any, message: str) -> None:
    with pytest.raises(RateCardError, match=message):
        parse_rate_card(card)


@pytest.mark.parametrize("text", ["0", "-5", "abc", "1.00001", "NaN", "Infinity", "2000000"])
def test_a_credit_amount_must_be_a_small_positive_decimal(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_amount(text)


def test_a_credit_is_a_new_event_on_the_projects_account() -> None:
    account = Account("p1", SYSTEM)
    account.credit(parse_amount("10.00"), "EUR", "outage on 3 Nov", SYSTEM)
    account.credit(Decimal("2.5"), "EUR", "goodwill", SYSTEM)
    events = account.collect_events()
    assert [type(e).__name__ for e in events] == ["Opened", "Credited", "Credited"]
    assert account.credited == {"EUR": Decimal("12.50")}
    with pytest.raises(InvalidInput):
        account.credit(Decimal("1"), "EUR", "\x00", SYSTEM)
    with pytest.raises(InvalidInput):
        account.credit(Decimal("1"), "eur", "lowercase", SYSTEM)


def test_a_credit_naming_a_reference_already_credited_changes_nothing() -> None:
    account = Account("p1", SYSTEM)
    assert account.credit(Decimal("5"), "EUR", "outage", SYSTEM, reference="INC-7")
    assert not account.credit(Decimal("5"), "EUR", "outage", SYSTEM, reference="INC-7")
    assert [type(e).__name__ for e in account.collect_events()] == ["Opened", "Credited"]
    assert account.credited == {"EUR": Decimal("5")}
