"""A rebuild's progress on stderr: a bar redrawn in place on a terminal,
else a plain line every few seconds (for logs and pipes)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

REDRAW_SECONDS = 0.2
LINE_SECONDS = 5.0
BAR_WIDTH = 30


class ProgressBar:
    """Log positions done out of the way to the target, events/s, time left."""

    def __init__(self, label: str, start: int, stream: TextIO | None = None) -> None:
        self.label, self.start = label, start
        self.stream = stream or sys.stderr  # looked up now: tests swap sys.stderr
        self.tty = self.stream.isatty()
        self.began = self.shown = time.monotonic()
        self.events = 0
        self.position = self.target = start

    def __call__(self, position: int, target: int, events: int) -> None:
        """A page was applied: the log is done up to ``position`` of ``target``."""
        self.position, self.target = position, max(target, self.target)
        self.events += events
        now = time.monotonic()
        if now - self.shown >= (REDRAW_SECONDS if self.tty else LINE_SECONDS):
            self.shown = now
            self._show(now)

    def finish(self) -> None:
        self._show(time.monotonic())
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()

    def _show(self, now: float) -> None:
        elapsed = max(now - self.began, 1e-9)
        rate = self.events / elapsed
        done, total = self.position - self.start, max(self.target - self.start, 1)
        fraction = min(done / total, 1.0)
        speed = done / elapsed  # log positions per second, for the time left
        left = (total - done) / speed if speed > 0 else float("inf")
        text = (
            f"{self.label}: {self.position:,}/{self.target:,} ({fraction:.0%}),"
            f" {self.events:,} events, {rate:,.0f} events/s, {_duration(left)} left"
        )
        if self.tty:
            filled = int(fraction * BAR_WIDTH)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            self.stream.write(f"\r[{bar}] {text}\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"
