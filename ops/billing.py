"""`cloudledger billing usage | invoice | credit`: the billing replay over a
period, priced with a rate card, and an admin's credit. Bad input (a period
backwards, a malformed time, an unreadable or malformed rate card, usage the
card does not price) is a one-line message and exit status 2."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from eventsourcing.persistence import PersistenceError

from commands.app import CloudApp
from commands.billing import CreditAccount, credit_account
from commands.bootstrap import Settings, build_app
from domain.billing import parse_amount
from domain.errors import DomainError, InvalidInput
from domain.metering import totals_by_project, usage_lines
from domain.pricing import RateCard, RateCardError, parse_rate_card, price
from domain.values import SYSTEM
from ops import billing_format
from ops.billing_replay import Replay, replay, without_cyclic_gc
from projections.bootstrap import postgres_recorder

BAD_INPUT = 2


def add_parser(sub: Any) -> None:
    """The `billing` subcommands, on the CLI's subparsers."""
    billing = sub.add_parser("billing", help="usage and invoices replayed from the ledger")
    billing.set_defaults(main=main_billing)
    actions = billing.add_subparsers(dest="billing", required=True)
    for name, text in (("usage", "what each project used"), ("invoice", "usage priced")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--from", dest="start", required=True, help="period start (UTC)")
        action.add_argument("--to", dest="stop", required=True, help="period end (UTC)")
        action.add_argument("--project", help="only this project")
        action.add_argument("--format", choices=billing_format.FORMATS, default="table")
        if name == "invoice":
            action.add_argument("--rates", required=True, type=Path, help="the rate card (YAML)")
    credit = actions.add_parser("credit", help="credit a project (a new event, never an edit)")
    credit.add_argument("--project", required=True)
    credit.add_argument("--amount", required=True, help="a positive decimal, e.g. 10.00")
    credit.add_argument("--currency", required=True, help="e.g. EUR")
    credit.add_argument("--reason", required=True)
    credit.add_argument("--reference", default="", help="credit once, however often it is run")
    bench = actions.add_parser("bench", help="time the replay over the whole ledger")
    bench.add_argument("--generate", type=int, default=0, help="first append ~N synthetic events")
    bench.add_argument("--apply", action="store_true", help="really append them")


def parse_time(text: str, what: str) -> datetime:
    """An ISO 8601 time or date; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"Invalid {what} time {text[:40]!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[Z]"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _period(args: argparse.Namespace) -> tuple[datetime, datetime]:
    start, stop = parse_time(args.start, "--from"), parse_time(args.stop, "--to")
    if start > stop:
        raise InvalidInput("--from must not be after --to")
    return start, stop


class _DecimalLoader(yaml.SafeLoader):
    """YAML with its numbers read as Decimal: a rate of 0.1 stays 0.1."""


def _decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    assert isinstance(node, yaml.ScalarNode)
    return Decimal(str(loader.construct_scalar(node)).replace("_", ""))


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


def load_rate_card(path: Path) -> RateCard:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RateCardError(f"Cannot read the rate card {path}: {exc}") from None
    try:
        card = yaml.load(text, Loader=_DecimalLoader)  # noqa: S506 (a SafeLoader subclass)
    except (yaml.YAMLError, ArithmeticError) as exc:
        raise RateCardError(f"The rate card {path} is not valid YAML: {exc}") from None
    try:
        return parse_rate_card(card)
    except RateCardError as exc:
        raise RateCardError(f"{path}: {exc.message}") from None


def _replay(app: CloudApp, start: datetime, stop: datetime) -> Replay:
    return replay(postgres_recorder(app), app.mapper, start, stop)


def _usage(app: CloudApp, args: argparse.Namespace, card: RateCard | None) -> str:
    start, stop = _period(args)
    done = _replay(app, start, stop)
    # Running resources count up to now, or to the end of a period already over.
    with without_cyclic_gc():
        lines = usage_lines(done.metering, min(stop, datetime.now(UTC)))
    credits = done.credits
    if args.project:
        lines = [line for line in lines if line.project_id == args.project]
        credits = [c for c in credits if c.project_id == args.project]
    totals = totals_by_project(lines)
    if card is None:
        document = billing_format.usage_document(start, stop, lines, totals)
        return billing_format.render_usage(document, args.format)
    invoice = price(card, totals, credits, start, stop)
    return billing_format.render_invoice(billing_format.invoice_document(invoice), args.format)


def _credit(app: CloudApp, args: argparse.Namespace) -> str:
    amount = parse_amount(args.amount)
    cmd = CreditAccount(args.project, amount, args.currency, args.reason, args.reference)
    receipt = credit_account(cmd, app, SYSTEM)
    if not receipt.events:
        return f"already credited: {cmd.reference} (account {receipt.id}); nothing appended\n"
    return f"credited {cmd.amount} {cmd.currency} to {cmd.project_id} (account {receipt.id})\n"


def _run(app: CloudApp, args: argparse.Namespace, card: RateCard | None) -> str:
    if args.billing == "credit":
        return _credit(app, args)
    if args.billing == "bench":
        from ops.billing_bench import main_bench

        return main_bench(app, args.generate, args.apply)
    return _usage(app, args, card)


def main_billing(settings: Settings, args: argparse.Namespace) -> int:
    try:
        card = load_rate_card(args.rates) if args.billing == "invoice" else None
        if args.billing in ("usage", "invoice"):
            _period(args)  # refuse bad input before connecting
        app = build_app(settings.database_url, pool_size=1, limits=settings.database_limits)
        try:
            out = _run(app, args, card)
        finally:
            app.close()
    except DomainError as exc:
        print(f"cloudledger billing: {exc.message}", file=sys.stderr)
        return BAD_INPUT
    except PersistenceError as exc:
        print(f"cloudledger billing: cannot read the ledger: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(out)
    return 0
