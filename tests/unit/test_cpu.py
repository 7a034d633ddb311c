"""`cloudledger bench`'s CPU figures count one stack's processes: the tree
of the `cloudledger run` whose API listens on the port, not another
stack's processes of the same roles on this machine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ops import cpu

# A process that burns about `seconds` of CPU, says so, then waits.
BURN = (
    "import sys, time\n"
    "end = time.process_time() + float(sys.argv[1])\n"
    "while time.process_time() < end: pass\n"
    "print('burnt', flush=True)\n"
    "time.sleep(60)\n"
)
# The stack: an API that listens (and burns), and a relay that burns; both
# labelled by their command line as `cloudledger run`'s children are.
RUN = (
    "import socket, subprocess, sys\n"
    "api = socket.socket(); api.bind(('127.0.0.1', 0)); api.listen()\n"
    "burn = [sys.executable, '-c', sys.argv[1], sys.argv[2]]\n"
    "children = [subprocess.Popen([*burn, 'ops.cli', 'api'], pass_fds=[api.fileno()],"
    " stdout=subprocess.PIPE),"
    " subprocess.Popen([*burn, 'ops.cli', 'relay'], stdout=subprocess.PIPE)]\n"
    "for child in children: child.stdout.readline()\n"
    "port = api.getsockname()[1]; api.close()\n"
    "print(port, flush=True)\n"
    "import time; time.sleep(60)\n"
)


def _started(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", *args], stdout=subprocess.PIPE, text=True, start_new_session=True
    )


@pytest.fixture(scope="module")
def stacks() -> Iterator[tuple[subprocess.Popen[str], int, subprocess.Popen[str]]]:
    """A stack (its `run`, the port its API listens on), and another stack's
    relay that burns more than the whole of the first."""
    other = _started(BURN, "0.6", "ops.cli", "relay")
    run = _started(RUN, BURN, "0.2", "ops.cli", "run")
    try:
        assert run.stdout is not None and other.stdout is not None
        port = int(run.stdout.readline())
        assert other.stdout.readline().strip() == "burnt"
        yield run, port, other
    finally:
        for process in (run, other):  # each leads a process group of its own
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def test_the_stack_is_the_run_behind_the_api_port(
    stacks: tuple[subprocess.Popen[str], int, subprocess.Popen[str]],
) -> None:
    run, port, _ = stacks
    assert cpu.stack_root(port) == run.pid


def test_only_the_stacks_own_processes_are_counted(
    stacks: tuple[subprocess.Popen[str], int, subprocess.Popen[str]],
) -> None:
    run, _, other = stacks
    used = cpu.snapshot(run.pid, {})
    assert set(used) == {"run", "api", "relay"}
    assert 0.15 <= used["relay"] < 0.5  # its own relay's 0.2 s, not the other's 0.6
    assert 0.15 <= used["api"] < 0.5
    everyone = cpu.snapshot(other.pid, {})
    assert everyone["relay"] >= 0.5


def test_nothing_listening_is_no_stack() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert cpu.stack_root(free) is None
    assert cpu.snapshot(None, {1: "init"}).keys() == {"init"}


@pytest.mark.parametrize(
    "cmdline",
    [
        ["/work/.venv/bin/cloudledger", "run"],
        ["/work/.venv/bin/cloudledger", "run", "--hosts", "2"],  # its options too
        ["/work/.venv/bin/python3", ".venv/bin/cloudledger", "run", "--hosts", "2"],
    ],
)
def test_a_cloudledger_run_is_labelled_run_whatever_its_options(cmdline: list[str]) -> None:
    assert cpu._label(cmdline) == "run"
