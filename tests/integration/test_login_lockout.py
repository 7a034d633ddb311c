"""Brute-force lockout, with both stores of login attempts: PostgreSQL (what
the API uses) and the in-memory one unit tests use, one contract."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import pytest
from helpers import Cloud, build_cloud

from commands.authentication import Login
from commands.identity import CreateProject, CreateUser, UpdateUser
from commands.ledger_store import LedgerRecorder
from commands.lockout import Lockout, LoginAttempts, MemoryLoginAttempts, PostgresLoginAttempts
from commands.names import holder_of
from commands.services import Services
from domain.domains import DEFAULT_DOMAIN_ID
from domain.errors import Unauthorized
from domain.values import SYSTEM


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[Cloud]:
    cloud = build_cloud(database_url, tmp_path / "images")
    yield cloud
    cloud.app.close()


@pytest.fixture(params=["postgres", "memory"])
def attempts(request: pytest.FixtureRequest, cloud: Cloud) -> LoginAttempts:
    if request.param == "memory":
        return MemoryLoginAttempts()
    recorder = cloud.app.recorder
    assert isinstance(recorder, LedgerRecorder)
    return PostgresLoginAttempts(recorder.datastore)


def _services(cloud: Cloud, attempts: LoginAttempts, seconds: float = 300) -> Services:
    services = Services(
        cloud.app, cloud.services.hasher, cloud.services.image_store, Lockout(attempts, 3, seconds)
    )
    services.create_project(CreateProject("lock"), SYSTEM)
    services.create_user(CreateUser("mallory", "right", "lock"), SYSTEM)
    return services


def _fail(services: Services, times: int, user: str = "mallory") -> None:
    for _ in range(times):
        with pytest.raises(Unauthorized, match="requires authentication"):
            services.authenticate(user, "wrong", "lock", "req-test")


def test_failures_up_to_the_limit_lock_the_user_even_with_the_right_password(
    cloud: Cloud, attempts: LoginAttempts
) -> None:
    services = _services(cloud, attempts)
    _fail(services, 3)
    with pytest.raises(
        Unauthorized, match=r"locked after 3 failed logins; try again in 30\d seconds"
    ):
        services.authenticate("mallory", "right", "lock", "req-test")


def test_a_success_before_the_limit_starts_the_count_again(
    cloud: Cloud, attempts: LoginAttempts
) -> None:
    services = _services(cloud, attempts)
    _fail(services, 2)
    assert services.authenticate("mallory", "right", "lock", "req-test").user_name == "mallory"
    _fail(services, 2)
    assert services.authenticate("mallory", "right", "lock", "req-test").user_name == "mallory"


def test_the_lock_ends_once_the_failures_are_old_enough(
    cloud: Cloud, attempts: LoginAttempts
) -> None:
    services = _services(cloud, attempts, seconds=1.0)
    _fail(services, 3)
    with pytest.raises(Unauthorized, match="locked"):
        services.authenticate("mallory", "right", "lock", "req-test")
    time.sleep(1.1)
    assert services.authenticate("mallory", "right", "lock", "req-test").user_name == "mallory"


def test_unknown_names_lock_like_known_ones_and_alone(
    cloud: Cloud, attempts: LoginAttempts
) -> None:
    services = _services(cloud, attempts)
    _fail(services, 3, user="nobody")
    with pytest.raises(Unauthorized, match="locked"):
        services.authenticate("nobody", "wrong", "lock", "req-test")
    assert services.authenticate("mallory", "right", "lock", "req-test").user_name == "mallory"


def test_an_admin_re_enabling_the_user_ends_the_lock(cloud: Cloud, attempts: LoginAttempts) -> None:
    services = _services(cloud, attempts)
    _fail(services, 3)
    with pytest.raises(Unauthorized, match="locked"):
        services.authenticate("mallory", "right", "lock", "req-test")
    holder = holder_of(services.app, "user", DEFAULT_DOMAIN_ID, "mallory")
    assert holder is not None
    services.update_user(UpdateUser(holder.hex, enabled=False), SYSTEM)
    services.update_user(UpdateUser(holder.hex, enabled=True), SYSTEM)
    assert services.authenticate("mallory", "right", "lock", "req-test").user_name == "mallory"


def _mallory_id(services: Services) -> str:
    holder = holder_of(services.app, "user", DEFAULT_DOMAIN_ID, "mallory")
    assert holder is not None
    return holder.hex


def _ways_to_name_mallory(user_id: str) -> dict[str, Login]:
    """Every identifier of one user a login may give (issue 19, part 4)."""
    dashed = str(UUID(user_id)).upper()
    return {
        "name": Login("wrong", user_name="mallory", project_name="lock"),
        "name in the domain by id": Login(
            "wrong", user_name="mallory", user_domain_id="default", project_name="lock"
        ),
        "name in the domain by name": Login(
            "wrong", user_name="mallory", user_domain_name="Default", project_name="lock"
        ),
        "id": Login("wrong", user_id=user_id, project_name="lock"),
        "id spelt otherwise": Login("wrong", user_id=dashed, project_name="lock"),
    }


@pytest.mark.parametrize(
    ("failing", "then"),
    [
        ("name", "id"),
        ("id", "name"),
        ("name in the domain by name", "id spelt otherwise"),
        ("id spelt otherwise", "name in the domain by id"),
    ],
)
def test_failures_by_one_identifier_lock_the_user_by_every_other(
    cloud: Cloud, attempts: LoginAttempts, failing: str, then: str
) -> None:
    services = _services(cloud, attempts)
    ways = _ways_to_name_mallory(_mallory_id(services))
    for _ in range(3):
        with pytest.raises(Unauthorized, match="requires authentication"):
            services.login(ways[failing], "req-test")
    for way in ways.values():  # the right password, by any identifier: still locked
        with pytest.raises(Unauthorized, match="locked"):
            services.login(replace(way, password="right"), "req-test")


def test_failures_spread_over_identifiers_add_up(cloud: Cloud, attempts: LoginAttempts) -> None:
    services = _services(cloud, attempts)
    ways = list(_ways_to_name_mallory(_mallory_id(services)).values())
    for way in ways[:3]:  # one guess each, three in all: the limit
        with pytest.raises(Unauthorized, match="requires authentication"):
            services.login(way, "req-test")
    with pytest.raises(Unauthorized, match="locked"):
        services.login(replace(ways[3], password="right"), "req-test")


def test_the_re_enable_ends_the_lock_by_whichever_identifier(
    cloud: Cloud, attempts: LoginAttempts
) -> None:
    services = _services(cloud, attempts)
    user_id = _mallory_id(services)
    ways = _ways_to_name_mallory(user_id)
    for _ in range(3):
        with pytest.raises(Unauthorized):
            services.login(ways["id"], "req-test")
    services.update_user(UpdateUser(user_id, enabled=True), SYSTEM)
    for way in ways.values():
        assert services.login(replace(way, password="right"), "req-test").user_name == "mallory"
