"""The metadata proxy on loopback (no namespace needed): what it forwards,
what it never forwards, and how it fails (issue 21)."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from netns_helpers import StandIn

from ops.ports import free_port
from workers.drivers.metadata_proxy import MAX_CLIENTS, MetadataProxy, sign

NET = "6a1f0c3e-1d2b-4c5a-9e8f-7a6b5c4d3e2f"


@pytest.fixture
def upstream() -> Iterator[StandIn]:
    server = StandIn()
    yield server
    server.close()


@pytest.fixture
def proxy(upstream: StandIn) -> Iterator[tuple[MetadataProxy, str]]:
    port = free_port()
    proxy = MetadataProxy(None, NET, upstream.url, b"secret", address="127.0.0.1", port=port)
    proxy.start()
    yield proxy, f"http://127.0.0.1:{port}"
    proxy.stop()


def test_a_request_reaches_the_api_with_the_network_and_the_guest_signed(
    proxy: tuple[MetadataProxy, str], upstream: StandIn
) -> None:
    _, base = proxy
    request = urllib.request.Request(
        base + "/openstack/latest/meta_data.json?x=1",
        headers={"X-Forwarded-For": "10.9.9.9", "X-Cloudledger-Network-Id": "another"},
    )

    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200

    [seen] = upstream.requests
    assert seen["path"] == "/metadata/openstack/latest/meta_data.json"
    assert seen["x-cloudledger-network-id"] == NET
    assert seen["x-forwarded-for"] == "127.0.0.1"  # the guest's claim is not passed on
    assert seen["x-cloudledger-metadata-signature"] == sign(b"secret", NET, "127.0.0.1")


def test_other_methods_are_refused_and_nothing_reaches_the_api(
    proxy: tuple[MetadataProxy, str], upstream: StandIn
) -> None:
    _, base = proxy

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(base + "/", data=b"x"), timeout=5)

    assert refused.value.code == 501 and upstream.requests == []


def test_an_unreachable_api_is_a_502(proxy: tuple[MetadataProxy, str], upstream: StandIn) -> None:
    _, base = proxy
    upstream.close()

    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(base + "/latest/meta-data/hostname", timeout=15)

    assert failed.value.code == 502


def test_connections_beyond_the_limit_are_closed_and_the_proxy_still_answers(
    proxy: tuple[MetadataProxy, str],
) -> None:
    _, base = proxy
    port = int(base.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_CLIENTS + 5)]
    try:
        extra = idle[-1]
        extra.settimeout(5)
        assert extra.recv(1) == b""  # closed at once
    finally:
        for sock in idle:
            sock.close()

    with urllib.request.urlopen(base + "/latest/meta-data/hostname", timeout=15) as answer:
        assert answer.status == 200


def test_a_stopped_proxy_no_longer_listens(proxy: tuple[MetadataProxy, str]) -> None:
    running, base = proxy
    running.stop()

    assert not running.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=2)
