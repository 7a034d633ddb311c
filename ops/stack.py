"""The processes of one machine's control plane, supervised together."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 30.0
STABLE_AFTER_SECONDS = 10.0  # a child that ran this long is restarted at once
STOP_GRACE_SECONDS = 10.0


@dataclass
class Child:
    """One supervised process: restarted if it dies, stopped by its PID."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)
    backoff: float = 0.0
    restart_at: float | None = None

    def start(self) -> None:
        out = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        self.started_at = time.monotonic()
        out.close()

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None


class Supervisor:
    """Starts children, restarts any that die, stops them all on request."""

    def __init__(self, children: list[Child]) -> None:
        self.children = children
        self.stopping = False

    def start_all(self) -> None:
        for child in self.children:
            child.start()
            log.info("started %s (pid %s)", child.name, child.process and child.process.pid)

    def watch(self, poll: float = 0.2) -> None:
        """Block until asked to stop, restarting children that exit. One that
        keeps dying young (a bug, a busy port) backs off up to 30 s instead of
        spinning; one that ran a while is restarted after a second."""
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                if child.exited() and child.restart_at is None:
                    self._schedule_restart(child, now)
                if child.restart_at is not None and now >= child.restart_at:
                    child.restart_at = None
                    child.restarts += 1
                    child.start()
            time.sleep(poll)

    @staticmethod
    def _schedule_restart(child: Child, now: float) -> None:
        ran = now - child.started_at
        if ran >= STABLE_AFTER_SECONDS:
            child.backoff = RESTART_DELAY_SECONDS
        else:
            child.backoff = min(
                max(RESTART_DELAY_SECONDS, child.backoff * 2), MAX_RESTART_DELAY_SECONDS
            )
        child.restart_at = now + child.backoff
        code = child.process.returncode if child.process else None
        print(
            f"cloudledger: {child.name} exited ({code}) after {ran:.1f} s; "
            f"restarting in {child.backoff:.0f} s (see {child.log_path})",
            flush=True,
        )

    def request_stop(self, *_: object) -> None:
        self.stopping = True

    def stop_all(self) -> None:
        self.stopping = True
        running = [c for c in self.children if c.process and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()


def python_child(name: str, args: list[str], env: dict[str, str], logs: Path) -> Child:
    """A child running ``python -m ops.cli ARGS`` with this interpreter."""
    return Child(name, [sys.executable, "-m", "ops.cli", *args], env, logs / f"{name}.log")


def child_env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra, "PYTHONUNBUFFERED": "1"}
