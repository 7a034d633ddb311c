"""Which workers are alive. Every worker process beats from its own thread
into one Redis hash (role -> time), never into the ledger: the thread beats
while the process's RQ loop is busy in a long job, and after a Redis
restart it writes the hash back within one beat. A role is up while its
latest beat is younger than the down time (a minute by default, Nova's
service_down_time).

A restarted Redis has forgotten every beat, so a missing beat proves
nothing until the hash has been watched for the down time:
``watched_since`` marks when this Redis first saw a beat or a reader."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

log = logging.getLogger(__name__)
UP_WITHIN_S = 60.0  # Nova's service_down_time
BEAT_EVERY_S = 5.0
BEATS = "cloudledger:heartbeats"
STARTED = "cloudledger:heartbeats:started"
WATCHED_SINCE = "cloudledger:heartbeats:since"


def _connect(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)


def beat_interval(down_after_s: float) -> float:
    """Often enough that a live worker never looks silent for the down time."""
    return min(BEAT_EVERY_S, down_after_s / 4)


class HeartbeatThread:
    """Beats for ``role`` every ``every_s`` seconds until ``stop`` is set."""

    def __init__(
        self, redis_url: str, role: str, stop: threading.Event, every_s: float = BEAT_EVERY_S
    ) -> None:
        self._redis, self.role, self._stop = _connect(redis_url), role, stop
        self._started, self._every_s = time.time(), every_s

    def beat(self) -> None:
        now = time.time()
        with self._redis.pipeline() as pipe:
            pipe.hset(BEATS, self.role, repr(now))
            pipe.hset(STARTED, self.role, repr(self._started))
            pipe.set(WATCHED_SINCE, repr(now), nx=True)
            pipe.execute()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name=f"heartbeat-{self.role}", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except redis.RedisError as exc:  # Redis away: beat again when it is back
                log.debug("heartbeat of %s not written: %s", self.role, exc)
            self._stop.wait(self._every_s)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Beats:
    """Each role's latest beat, and whether it is recent enough to be up."""

    seen: dict[str, datetime]
    down_after_s: float = UP_WITHIN_S
    now: datetime = field(default_factory=_now)

    def get(self, role: str) -> datetime | None:
        return self.seen.get(role)

    def up(self, role: str) -> bool:
        beat = self.seen.get(role)
        return beat is not None and (self.now - beat).total_seconds() < self.down_after_s


class WorkerHeartbeats:
    """Reads the beats, for os-services and for the scheduler's ComputeFilter.
    ``down_after_s``: how long a silent role still counts as up."""

    def __init__(self, redis_url: str, down_after_s: float = UP_WITHIN_S) -> None:
        self._redis = _connect(redis_url)
        self.down_after_s = down_after_s

    def _read(self, key: str) -> dict[str, datetime]:
        try:
            raw = self._redis.hgetall(key)
        except redis.RedisError as exc:  # Redis down: every role shows as down
            log.warning("cannot read worker heartbeats: %s", exc)
            return {}
        return {_text(role): _moment(at) for role, at in raw.items()}

    def last_seen(self) -> Beats:
        """Each role's latest heartbeat (roles that never beat are absent)."""
        return Beats(self._read(BEATS), self.down_after_s)

    def running_since(self) -> dict[str, datetime]:
        """When each role's worker process started."""
        return self._read(STARTED)

    def watched_since(self) -> datetime | None:
        """Since when this Redis has kept beats (the first reader sets it too)."""
        try:
            self._redis.set(WATCHED_SINCE, repr(time.time()), nx=True)
            raw = self._redis.get(WATCHED_SINCE)
        except redis.RedisError:
            return None
        return None if raw is None else _moment(raw)

    def compute_hosts_up(self) -> set[str] | None:
        """The hosts whose compute worker beat within the down time, or None
        when that cannot be told yet (Redis unreachable, or watched for less
        than the down time): ComputeFilter then counts every host as up."""
        since, beats = self.watched_since(), self.last_seen()
        if since is None or (beats.now - since).total_seconds() < self.down_after_s:
            return None
        prefix = "compute-"
        return {
            role.removeprefix(prefix)
            for role in beats.seen
            if role.startswith(prefix) and beats.up(role)
        }


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _moment(raw: bytes | str) -> datetime:
    return datetime.fromtimestamp(float(_text(raw)), UTC)
