"""Each instance's console log on its compute host (os-getConsoleOutput).

With libvirt's test driver no guest prints anything, so the console holds
what the compute driver wrote for the domain: one line per step it took.
A real guest (the QEMU driver) appends its serial console to the same file."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

MAX_LOG_BYTES = 1 << 20  # the log is cut back to its newest half past this


class ConsoleLog(Protocol):
    def write(self, instance_id: str, line: str) -> None: ...

    def tail(self, instance_id: str, length: int | None) -> str:
        """The last ``length`` lines (all if None); "" if there is no log."""
        ...

    def remove(self, instance_id: str) -> None: ...

    def path_for(self, instance_id: str) -> Path | None:
        """The file a real guest's serial console may write to, if any."""
        ...


def _stamped(line: str) -> str:
    return f"[{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}] {line}\n"


def _last(lines: Iterable[str], length: int | None) -> str:
    kept = list(lines)
    if length is None:
        return "".join(kept)
    return "".join(kept[-length:]) if length > 0 else ""


class FileConsole:
    """One file per instance under the host's directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, instance_id: str) -> Path:
        return self.directory / f"{instance_id}.log"

    def path_for(self, instance_id: str) -> Path | None:
        self.directory.mkdir(parents=True, exist_ok=True)
        return self._path(instance_id)

    def write(self, instance_id: str, line: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(instance_id)
        with path.open("a") as log:
            log.write(_stamped(line))
        if path.stat().st_size > MAX_LOG_BYTES:
            text = path.read_text()
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text[len(text) // 2 :].split("\n", 1)[-1])
            os.replace(tmp, path)

    def tail(self, instance_id: str, length: int | None) -> str:
        try:
            text = self._path(instance_id).read_text()
        except FileNotFoundError:
            return ""
        return _last(text.splitlines(keepends=True), length)

    def remove(self, instance_id: str) -> None:
        self._path(instance_id).unlink(missing_ok=True)


class MemoryConsole:
    """The same in memory, for tests of jobs."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}

    def write(self, instance_id: str, line: str) -> None:
        self._lines.setdefault(instance_id, []).append(_stamped(line))

    def tail(self, instance_id: str, length: int | None) -> str:
        return _last(self._lines.get(instance_id, []), length)

    def remove(self, instance_id: str) -> None:
        self._lines.pop(instance_id, None)

    def path_for(self, instance_id: str) -> Path | None:
        return None
