"""Unit tests for the optimistic-concurrency retry."""

from collections.abc import Callable

import pytest
from eventsourcing.persistence import IntegrityError

from commands.app import CloudApp
from commands.identity import CreateProject, create_project
from commands.retry import retry_on_conflict
from domain.errors import Conflict, QuotaExceeded
from domain.quota import Quota
from domain.values import SYSTEM


class Flaky:
    """An attempt that hits a concurrent write a given number of times."""

    def __init__(self, conflicts: int) -> None:
        self.conflicts, self.calls = conflicts, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.conflicts:
            raise IntegrityError("version conflict")
        return "done"


def test_success_on_the_first_attempt_runs_once() -> None:
    attempt = Flaky(conflicts=0)
    assert retry_on_conflict(attempt) == "done"
    assert attempt.calls == 1


def test_integrity_error_is_retried_until_success() -> None:
    attempt = Flaky(conflicts=2)
    assert retry_on_conflict(attempt, attempts=3) == "done"
    assert attempt.calls == 3


def test_persistent_conflict_raises_domain_conflict_after_all_attempts() -> None:
    attempt = Flaky(conflicts=100)
    with pytest.raises(Conflict, match="changed concurrently"):
        retry_on_conflict(attempt, attempts=3)
    assert attempt.calls == 3


def test_domain_errors_are_not_retried() -> None:
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise QuotaExceeded("instances", 1, 1, 1)

    with pytest.raises(QuotaExceeded):
        retry_on_conflict(attempt)
    assert len(calls) == 1


def _app_with_quota(instances: int) -> tuple[CloudApp, str]:
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    project_id = create_project(CreateProject("alpha"), app, SYSTEM).id.hex
    quota = app.repository.get(Quota.create_id(project_id))
    quota.set_limits({"instances": instances}, SYSTEM)
    app.save(quota)
    return app, project_id


def _reserve_racing(
    app: CloudApp, project_id: str, consumer: str, racer: str
) -> Callable[[], None]:
    """An attempt that loads the quota, then loses the race to another
    reservation the first time round, as a concurrent request would."""
    raced: list[int] = []

    def attempt() -> None:
        quota = app.repository.get(Quota.create_id(project_id))
        if not raced:
            raced.append(1)
            other = app.repository.get(Quota.create_id(project_id))
            other.reserve(racer, {"instances": 1}, SYSTEM)
            app.save(other)
        quota.reserve(consumer, {"instances": 1}, SYSTEM)
        app.save(quota)

    return attempt


def test_a_real_version_conflict_is_retried_with_a_fresh_load() -> None:
    app, project_id = _app_with_quota(instances=2)
    retry_on_conflict(_reserve_racing(app, project_id, "mine", "theirs"))
    quota = app.repository.get(Quota.create_id(project_id))
    assert set(quota.allocations) == {"mine", "theirs"}


def test_retry_reports_the_real_reason_when_the_quota_filled_meanwhile() -> None:
    app, project_id = _app_with_quota(instances=1)
    with pytest.raises(QuotaExceeded, match="already used 1 of 1 instances"):
        retry_on_conflict(_reserve_racing(app, project_id, "mine", "theirs"))
    quota = app.repository.get(Quota.create_id(project_id))
    assert set(quota.allocations) == {"theirs"}
