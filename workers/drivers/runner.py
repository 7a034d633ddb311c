"""One way for drivers to run programs: argv in, exit code and output out.

Disk, image, network and iSCSI drivers all run host tools (qemu-img, ip,
nft, dnsmasq, tgtadm). They take a `CommandRunner` in their constructor, so
their command lines are unit-testable with `FakeRunner`, and the real
`SubprocessRunner` is the only place that starts a process. A command is an
argv list, never a shell string; tenant-supplied text can only ever be one
argument. Secrets given to a call are masked in every message and log line.
"""

from __future__ import annotations

import logging
import resource
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from workers.drivers.errors import PermanentDriverError, TransientDriverError

log = logging.getLogger(__name__)

MASK = "******"
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Limits:
    """Resource limits for the child, as Nova puts on `qemu-img info`:
    CPU seconds and address space in bytes (0: no limit)."""

    cpu_seconds: int = 0
    address_space_bytes: int = 0

    def apply(self) -> None:
        """Called in the child between fork and exec."""
        if self.cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_seconds, self.cpu_seconds))
        if self.address_space_bytes:
            size = self.address_space_bytes
            resource.setrlimit(resource.RLIMIT_AS, (size, size))


@dataclass(frozen=True)
class Completed:
    """What a finished command left: its exit code and its output."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandFailed(PermanentDriverError):
    """The program ran and exited non-zero (with ``check``); the message has
    the masked command line and its stderr, for logs and admins only."""

    def __init__(self, message: str, result: Completed) -> None:
        super().__init__(message)
        self.result = result


class CommandRunner(Protocol):
    """Runs one program and returns how it ended.

    ``argv[0]`` is the program; no shell is involved. ``netns`` names a
    network namespace (under /run/netns) to run it in. ``input`` is written
    to its stdin. ``secrets`` are strings to mask wherever the call is
    described (errors, logs); they may appear in argv or output.

    Raises PermanentDriverError if the program cannot be started, and
    CommandFailed if it exits non-zero while ``check`` is true;
    TransientDriverError if it outlives ``timeout`` seconds (it is killed).
    """

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = DEFAULT_TIMEOUT_S,
        netns: str | None = None,
        input: str | None = None,
        secrets: Iterable[str] = (),
        limits: Limits | None = None,
    ) -> Completed: ...


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def describe(argv: Sequence[str], secrets: Iterable[str]) -> str:
    """The command line as a reader would type it, secrets masked."""
    return mask(shlex.join(argv), list(secrets))


def in_netns(argv: Sequence[str], netns: str | None) -> list[str]:
    """`argv` as run inside the named network namespace (iproute2's way)."""
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def checked(result: Completed, secrets: Sequence[str]) -> Completed:
    """``result``, or CommandFailed naming the command and its stderr."""
    if result.ok:
        return result
    message = (
        f"{describe(result.argv, secrets)} exited with {result.returncode}: "
        f"{mask(result.stderr.strip(), secrets)}"
    )
    raise CommandFailed(message, result)


class SubprocessRunner:
    """The real runner: one child process per call, its output captured."""

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = DEFAULT_TIMEOUT_S,
        netns: str | None = None,
        input: str | None = None,
        secrets: Iterable[str] = (),
        limits: Limits | None = None,
    ) -> Completed:
        hidden = list(secrets)
        full = in_netns(argv, netns)
        began = time.monotonic()
        try:
            done = subprocess.run(
                full,
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=None if input is not None else subprocess.DEVNULL,
                # Only setrlimit runs between fork and exec: safe in a threaded worker.
                preexec_fn=limits.apply if limits else None,
            )
        except subprocess.TimeoutExpired as exc:
            raise TransientDriverError(
                f"{describe(full, hidden)} did not finish in {timeout:g} s"
            ) from exc
        except OSError as exc:
            raise PermanentDriverError(f"cannot run {argv[0]}: {exc.strerror}") from None
        result = Completed(tuple(full), done.returncode, done.stdout, done.stderr)
        log.debug(
            "ran %s: exit %d in %.3f s",
            describe(full, hidden),
            done.returncode,
            time.monotonic() - began,
        )
        return checked(result, hidden) if check else result


Script = Callable[[tuple[str, ...]], Completed | None]


@dataclass
class FakeRunner:
    """Records every call and answers from a script, for drivers' unit tests.

    ``answers`` maps an argv prefix to what a call starting with it returns
    (the longest matching prefix wins); ``script`` may compute an answer
    instead (returning None to fall through). Anything unmatched succeeds
    with empty output. ``fail_next`` makes the next call raise that error."""

    answers: dict[tuple[str, ...], Completed] = field(default_factory=dict)
    script: Script | None = None
    calls: list[tuple[str, ...]] = field(default_factory=list)
    netns_of_calls: list[str | None] = field(default_factory=list)
    fail_next: Exception | None = None

    def answer(
        self, prefix: Sequence[str], stdout: str = "", returncode: int = 0, stderr: str = ""
    ) -> None:
        key = tuple(prefix)
        self.answers[key] = Completed(key, returncode, stdout, stderr)

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = DEFAULT_TIMEOUT_S,
        netns: str | None = None,
        input: str | None = None,
        secrets: Iterable[str] = (),
        limits: Limits | None = None,
    ) -> Completed:
        del timeout, input, limits
        call = tuple(argv)
        self.calls.append(call)
        self.netns_of_calls.append(netns)
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        result = self._answer_for(call)
        return checked(result, list(secrets)) if check else result

    def _answer_for(self, call: tuple[str, ...]) -> Completed:
        if self.script is not None:
            scripted = self.script(call)
            if scripted is not None:
                return Completed(call, scripted.returncode, scripted.stdout, scripted.stderr)
        matches = [p for p in self.answers if call[: len(p)] == p]
        if not matches:
            return Completed(call, 0, "", "")
        found = self.answers[max(matches, key=len)]
        return Completed(call, found.returncode, found.stdout, found.stderr)

    def ran(self, *prefix: str) -> list[tuple[str, ...]]:
        """The calls whose argv starts with ``prefix``."""
        return [c for c in self.calls if c[: len(prefix)] == prefix]
