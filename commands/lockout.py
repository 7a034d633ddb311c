"""Brute-force protection for password logins: after ``max_failures`` failed
logins of one user name within ``lockout_seconds`` (and since its last
success), further logins are refused until the oldest of them is that old.

Attempts are kept for audit in their own table, not as domain events: a
failed login changes nothing in the cloud. An unknown user name is counted
like a known one, so a lockout says nothing about which names exist."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from commands.authentication import Authenticated
from commands.side_tables import SideTable
from domain.errors import Unauthorized

DEFAULT_MAX_FAILURES = 10
DEFAULT_LOCKOUT_SECONDS = 300.0


class LoginAttempts(Protocol):
    """Where login attempts are recorded (PostgreSQL; in memory for unit tests)."""

    def recent_failures(self, user_name: str, within_seconds: float, limit: int) -> list[float]:
        """Ages in seconds of the newest failures (at most ``limit``) within
        the window and after the user name's last success, newest first."""
        ...

    def record(self, user_name: str, succeeded: bool, request_id: str) -> None: ...


@dataclass(frozen=True)
class Lockout:
    attempts: LoginAttempts
    max_failures: int = DEFAULT_MAX_FAILURES
    lockout_seconds: float = DEFAULT_LOCKOUT_SECONDS

    def authenticate(
        self, user_name: str, request_id: str, check: Callable[[], Authenticated]
    ) -> Authenticated:
        """Run the password ``check`` unless the user name is locked out."""
        failures = self.attempts.recent_failures(user_name, self.lockout_seconds, self.max_failures)
        if len(failures) >= self.max_failures:
            wait = math.ceil(self.lockout_seconds - failures[-1])
            raise Unauthorized(
                f"The account is locked after {self.max_failures} failed logins; "
                f"try again in {wait} seconds."
            )
        try:
            who = check()
        except Unauthorized:
            self.attempts.record(user_name, False, request_id)
            raise
        if failures:  # a success ends the count; otherwise nothing to write
            self.attempts.record(user_name, True, request_id)
        return who


class PostgresLoginAttempts(SideTable):
    """The ``login_attempts`` table, in the ledger's database."""

    DDL = (
        "CREATE TABLE IF NOT EXISTS login_attempts ("
        " user_name text NOT NULL, at timestamptz NOT NULL DEFAULT now(),"
        " succeeded boolean NOT NULL, request_id text NOT NULL)",
        "CREATE INDEX IF NOT EXISTS login_attempts_by_user ON login_attempts (user_name, at)",
    )

    def recent_failures(self, user_name: str, within_seconds: float, limit: int) -> list[float]:
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT extract(epoch FROM now() - at)::float8 AS age FROM login_attempts"
                " WHERE user_name = %s AND NOT succeeded"
                " AND at > now() - make_interval(secs => %s)"
                " AND at > coalesce((SELECT max(at) FROM login_attempts"
                "  WHERE user_name = %s AND succeeded), '-infinity')"
                " ORDER BY at DESC LIMIT %s",
                (user_name, within_seconds, user_name, limit),
            )
            return [float(row["age"]) for row in cur.fetchall()]

    def record(self, user_name: str, succeeded: bool, request_id: str) -> None:
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(
                "INSERT INTO login_attempts (user_name, succeeded, request_id) VALUES (%s, %s, %s)",
                (user_name, succeeded, request_id),
            )


@dataclass
class MemoryLoginAttempts:
    """The same, in this process only: for unit tests."""

    rows: list[tuple[str, float, bool, str]] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def recent_failures(self, user_name: str, within_seconds: float, limit: int) -> list[float]:
        now = self.clock()
        with self._lock:
            mine = [r for r in self.rows if r[0] == user_name]
        last_success = max((at for _, at, ok, _ in mine if ok), default=-math.inf)
        ages = [
            now - at
            for _, at, ok, _ in mine
            if not ok and at > last_success and now - at < within_seconds
        ]
        return sorted(ages)[:limit]

    def record(self, user_name: str, succeeded: bool, request_id: str) -> None:
        with self._lock:
            self.rows.append((user_name, self.clock(), succeeded, request_id))
