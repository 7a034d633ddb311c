"""Fixtures for network tests: a stack's hosts as namespaces of the test's
own, removed afterwards whatever happens (processes in them ended by PID)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.netns_hosts import NetnsTopology, stack_prefix


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[NetnsTopology]:
    """Two compute hosts (h1, h2), a network node and the outside world."""
    topo = NetnsTopology(stack_prefix(str(tmp_path)), ("h1", "h2"))
    try:
        topo.ensure()
        yield topo
    finally:
        topo.remove()
    assert topo.namespaces() == []


def run_in(namespace: str, *argv: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    """Run a command inside one of the test's namespaces."""
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pings(namespace: str, address: str, count: int = 1, wait_s: int = 1) -> bool:
    """Whether ``address`` answers a ping sent from ``namespace``."""
    done = run_in(namespace, "busybox", "ping", "-c", str(count), "-W", str(wait_s), address)
    return done.returncode == 0
