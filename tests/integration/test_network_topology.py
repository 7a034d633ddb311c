"""Hosts as namespaces (workers/drivers/netns_topology.py): made idempotently, joined by an
underlay that exists only inside them, unique per stack, and removed whole."""

from __future__ import annotations

import subprocess
from pathlib import Path

from netns_helpers import pings, run_in

from workers.drivers.netns import list_namespaces
from workers.drivers.netns_topology import NetnsTopology, stack_prefix

pytest_plugins = ["netns_fixtures"]


def test_hosts_reach_each_other_and_the_network_node_over_the_underlay(
    topology: NetnsTopology,
) -> None:
    h1 = topology.host_namespace("h1")

    assert pings(h1, topology.underlay_ip("h2")) and pings(h1, topology.underlay_ip(None))
    assert not pings(h1, topology.external_gateway)  # the outside is not on the underlay
    assert pings(topology.network_namespace, topology.underlay_ip("h1"))


def _devices_and_addresses(topology: NetnsTopology) -> dict[str, list[list[str]]]:
    found = {}
    for namespace in topology.namespaces():
        rows = run_in(namespace, "ip", "-br", "addr").stdout.splitlines()
        found[namespace] = sorted([row.split()[0], *row.split()[2:]] for row in rows)
    return found


def test_ensuring_again_changes_nothing(topology: NetnsTopology) -> None:
    before = _devices_and_addresses(topology)

    topology.ensure()

    assert _devices_and_addresses(topology) == before and len(before) == 5


def test_two_stacks_live_side_by_side_and_go_separately(
    topology: NetnsTopology, tmp_path: Path
) -> None:
    other = NetnsTopology(stack_prefix(str(tmp_path / "other")), ("h1",))
    try:
        other.ensure()
        assert other.prefix != topology.prefix
        assert pings(other.host_namespace("h1"), other.underlay_ip(None))
    finally:
        other.remove()

    assert list_namespaces(other.prefix) == []
    assert len(topology.namespaces()) == 5 and pings(
        topology.host_namespace("h1"), topology.underlay_ip("h2")
    )


def test_nothing_of_the_machine_itself_changes(topology: NetnsTopology) -> None:
    links = subprocess.run(["ip", "-br", "link"], check=True, capture_output=True, text=True).stdout

    assert "ul-bridge" not in links and "underlay" not in links and "br-ext" not in links
