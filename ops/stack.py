"""The processes of one machine's control plane, supervised together.

Two kinds of members: the servers the others need (PostgreSQL, Redis), which
start first, one at a time, and stop last; and the cloudledger processes
(``Child``). Any member that dies is restarted, the servers on their data."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from workers.drivers.netns_topology import NetnsTopology

log = logging.getLogger(__name__)

RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 30.0
STABLE_AFTER_SECONDS = 10.0  # a member that ran this long is restarted at once
STOP_GRACE_SECONDS = 10.0


class Restartable(Protocol):
    """What the supervisor needs of a member."""

    @property
    def name(self) -> str: ...

    def start(self) -> None:
        """Start it (and wait until it serves, for a server); raise if it cannot."""

    def exited(self) -> bool:
        """Whether it was started and has exited since."""

    def stop(self) -> None:
        """Stop it and wait until it has (a no-op if it is not running)."""


@dataclass
class Member:
    """A supervised member and its restart bookkeeping."""

    target: Restartable
    restarts: int = 0
    started_at: float = 0.0
    backoff: float = 0.0
    restart_at: float | None = None


@dataclass
class Child:
    """One cloudledger process: restarted if it dies, stopped by its PID."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        out = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        out.close()

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def terminate(self) -> bool:
        """Send SIGTERM if it runs; whether it did."""
        if self.process is None or self.process.poll() is not None:
            return False
        self.process.send_signal(signal.SIGTERM)
        return True

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        if self.terminate():
            self.wait_or_kill(time.monotonic() + grace)

    def wait_or_kill(self, deadline: float) -> None:
        assert self.process is not None
        try:
            self.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Supervisor:
    """Starts servers then children, restarts any member that dies, and
    stops children first, then the servers in reverse order."""

    def __init__(self, children: Sequence[Child], servers: Sequence[Restartable] = ()) -> None:
        self.servers = [Member(s) for s in servers]
        self.children = [Member(c) for c in children]
        self.stopping = False

    @property
    def members(self) -> list[Member]:
        return self.servers + self.children

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.target.name == name)

    def start_all(self) -> None:
        self.start(self.members)

    def start(self, members: Sequence[Member]) -> None:
        """Start these members in order (a server is serving when this returns)."""
        for member in members:
            member.target.start()
            member.started_at = time.monotonic()

    def watch(self, poll: float = 0.2) -> None:
        """Block until asked to stop, restarting members that exit. One that
        keeps dying young (a bug, a busy port) backs off up to 30 s instead of
        spinning; one that ran a while is restarted after a second."""
        while not self.stopping:
            for member in self.members:
                self._tend(member, time.monotonic())
            time.sleep(poll)

    def _tend(self, member: Member, now: float) -> None:
        if member.restart_at is None:
            if member.target.exited():
                self._schedule_restart(member, now)
            return
        if now < member.restart_at:
            return
        member.restart_at = None
        member.restarts += 1
        member.started_at = time.monotonic()
        try:
            member.target.start()
        except Exception as exc:  # a server that cannot start yet: try again later
            print(f"cloudledger: {member.target.name} did not start: {exc}", flush=True)
            self._schedule_restart(member, time.monotonic(), ran=0.0)

    @staticmethod
    def _schedule_restart(member: Member, now: float, ran: float | None = None) -> None:
        ran = now - member.started_at if ran is None else ran
        if ran >= STABLE_AFTER_SECONDS:
            member.backoff = RESTART_DELAY_SECONDS
        else:
            member.backoff = min(
                max(RESTART_DELAY_SECONDS, member.backoff * 2), MAX_RESTART_DELAY_SECONDS
            )
        member.restart_at = now + member.backoff
        print(
            f"cloudledger: {member.target.name} exited after {ran:.1f} s; "
            f"restarting in {member.backoff:g} s",
            flush=True,
        )

    def request_stop(self, *_: object) -> None:
        self.stopping = True

    def stop_all(self) -> None:
        self.stopping = True
        children = [m.target for m in self.children if isinstance(m.target, Child)]
        running = [c for c in children if c.terminate()]
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            child.wait_or_kill(deadline)
        for member in reversed(self.servers):
            try:
                member.target.stop()
            except Exception as exc:
                print(f"cloudledger: stopping {member.target.name} failed: {exc}", flush=True)


@dataclass
class NetworkTopology:
    """The stack's hosts as network namespaces (the real network driver):
    made before any worker starts, removed after every one stopped, with
    whatever still runs in them (dnsmasq, guests) ended by its PID. Only
    namespaces of this stack's prefix are touched, never the machine's own
    interfaces."""

    topology: NetnsTopology
    name: str = "network-topology"

    def start(self) -> None:
        self.topology.ensure()

    def exited(self) -> bool:
        return False  # namespaces do not exit; a worker repairs what goes missing

    def stop(self) -> None:
        self.topology.remove()


def python_child(name: str, args: list[str], env: dict[str, str], logs: Path) -> Child:
    """A child running ``python -m ops.cli ARGS`` with this interpreter."""
    return Child(name, [sys.executable, "-m", "ops.cli", *args], env, logs / f"{name}.log")


def child_env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra, "PYTHONUNBUFFERED": "1"}
