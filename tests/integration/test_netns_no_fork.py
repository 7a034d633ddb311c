"""pyroute2 never forks our process to reach a namespace.

Its own ways in (``IPRoute(netns=)``, ``netns.create``, ``Conntrack(netns=)``)
fork the caller; a forked copy of a threaded worker or of the test runner that
misses its ``_exit`` under load goes on running as a second copy inside the
namespace (seen: a test session that ran three times over, the copies
stopping the session's PostgreSQL). The drivers open sockets from a thread in
the namespace and make namespaces with `ip netns add` instead."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from pyroute2 import process

from workers.drivers.netns import (
    add_tap,
    ensure_namespace,
    ipr,
    namespace_pids,
    remove_namespace,
)
from workers.drivers.nft_router import forget_flows

HOME = os.readlink("/proc/self/ns/net")  # where the test runner started


@pytest.fixture
def no_forks(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object) -> None:
        raise AssertionError("pyroute2 tried to fork the process")

    monkeypatch.setattr(process.ChildProcess, "run", refuse)


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"cl-nofork-{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        remove_namespace(name)


@pytest.mark.usefixtures("no_forks")
def test_making_entering_and_cleaning_a_namespace_forks_nothing(namespace: str) -> None:
    ensure_namespace(namespace)
    add_tap(namespace, "tapnofork0")
    with ipr(namespace) as ip:
        (lo,) = ip.get_links(ifname="lo")
        links = [link.get("IFLA_IFNAME") for link in ip.get_links()]
    forget_flows(namespace, {"198.51.100.7"})

    assert links == ["lo", "tapnofork0"]  # the namespace's own devices, not this process's
    assert lo.get("IFLA_OPERSTATE") in ("UNKNOWN", "UP")
    assert namespace_pids(namespace) == []  # nothing of ours went to live there
    with ipr(None) as ip:
        assert ip.get_links(ifname="lo")  # and this thread is still at home
        assert not ip.link_lookup(ifname="tapnofork0")
    assert os.readlink("/proc/thread-self/ns/net") == HOME
