"""Unit tests for the billing commands: an admin's credit, on the in-memory store."""

from decimal import Decimal

import pytest

from commands.app import CloudApp
from commands.billing import CreditAccount, credit_account
from commands.identity import CreateProject, create_project
from domain.billing import Account
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.values import SYSTEM, Actor


def _app() -> CloudApp:
    return CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _max_id(app: CloudApp) -> int:
    return app.recorder.max_notification_id() or 0


def _project(app: CloudApp) -> str:
    return create_project(CreateProject("demo"), app, SYSTEM).id.hex


def test_a_credit_opens_the_projects_account_then_adds_to_it() -> None:
    app = _app()
    project = _project(app)
    credit_account(CreditAccount(project, Decimal("10.00"), "EUR", "outage"), app, SYSTEM)
    receipt = credit_account(CreditAccount(project, Decimal("2"), "EUR", "sorry"), app, SYSTEM)
    account: Account = app.repository.get(Account.create_id(project))
    assert receipt.id == account.id
    assert account.credited == {"EUR": Decimal("12.00")}
    assert [topic.rsplit(".", 1)[1] for _, topic in receipt.events] == ["Credited"]


def test_a_credit_with_a_reference_already_credited_appends_nothing() -> None:
    app = _app()
    project = _project(app)
    cmd = CreditAccount(project, Decimal("5"), "EUR", "outage", reference="INC-9")
    credit_account(cmd, app, SYSTEM)
    before = _max_id(app)
    assert credit_account(cmd, app, SYSTEM).events == ()
    assert _max_id(app) == before


@pytest.mark.parametrize(
    ("project", "currency", "reason", "error"),
    [
        ("0" * 32, "EUR", "x", NotFound),
        ("not-a-project", "EUR", "x", NotFound),
        (None, "eur", "x", InvalidInput),
        (None, "EUR", "", InvalidInput),
    ],
)
def test_a_bad_credit_appends_nothing(
    project: str | None, currency: str, reason: str, error: type[Exception]
) -> None:
    app = _app()
    cmd = CreditAccount(project or _project(app), Decimal("1"), currency, reason)
    before = _max_id(app)
    with pytest.raises(error):
        credit_account(cmd, app, SYSTEM)
    assert _max_id(app) == before


def test_only_admins_credit() -> None:
    app = _app()
    member = Actor("u1", "p1", ("member",), "req")
    with pytest.raises(Forbidden):
        credit_account(CreditAccount(_project(app), Decimal("1"), "EUR", "x"), app, member)
