"""A failed login takes as long whether the user exists or not, so response
times do not tell an attacker which user names are real."""

from __future__ import annotations

import statistics
import time

import httpx
import pytest

from e2e.helpers import Stack, auth_body, create_member

pytestmark = pytest.mark.e2e

TOKENS = "/identity/v3/auth/tokens"


def _time_login(stack: Stack, user: str, password: str, project: str) -> float:
    started = time.monotonic()
    response = httpx.post(f"{stack.url}{TOKENS}", json=auth_body(user, password, project))
    elapsed = time.monotonic() - started
    assert response.status_code == 401, response.text
    return elapsed


def test_unknown_users_and_wrong_passwords_take_the_same_time(stack: Stack) -> None:
    # Two users of their own, each failing fewer times than the lockout allows.
    wrong, lost = create_member(stack, "timing"), create_member(stack, "timing")
    attempts: dict[str, list[float]] = {"unknown user": [], "wrong password": [], "no project": []}
    for n in range(8):  # interleaved, so load on the machine hits every kind alike
        attempts["unknown user"].append(_time_login(stack, f"nobody-{n}", "secret", "admin"))
        attempts["wrong password"].append(
            _time_login(stack, wrong.user, f"wrong-{n}", wrong.project)
        )
        attempts["no project"].append(_time_login(stack, lost.user, lost.password, f"none-{n}"))

    medians = {kind: statistics.median(times) for kind, times in attempts.items()}
    fastest, slowest = min(medians.values()), max(medians.values())
    assert fastest > 0.02, medians  # every kind pays for a real password hash
    assert slowest / fastest < 1.5, medians


def test_ten_failed_logins_lock_the_user_out_with_a_clear_message(stack: Stack) -> None:
    member = create_member(stack, "lockout")
    for n in range(10):
        _time_login(stack, member.user, f"guess-{n}", member.project)
    response = httpx.post(
        f"{stack.url}{TOKENS}", json=auth_body(member.user, member.password, member.project)
    )
    assert response.status_code == 401
    assert "locked after 10 failed logins" in response.json()["error"]["message"]
