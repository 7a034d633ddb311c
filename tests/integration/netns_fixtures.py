"""Fixtures for network tests (loaded with ``pytest_plugins``): a stack's
hosts as namespaces of the test's own, removed afterwards whatever happens
(processes in them ended by PID), a metadata stand-in and a state folder."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns_helpers import StandIn

from workers.drivers.netns_topology import NetnsTopology, stack_prefix


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


@pytest.fixture
def standin() -> Iterator[StandIn]:
    server = StandIn()
    yield server
    server.close()


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A folder dnsmasq can reread as nobody (pytest's tmp_path is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="cloudledger-net-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
