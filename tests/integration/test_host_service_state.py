"""A disabled or forced-down host, on PostgreSQL: the hosts read model keeps
the reason and the flag and offers the scheduler neither host, and a claim
racing a force-down loses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Cloud, build_cloud, hosts_projector, raced_app

from commands import compute
from domain.host import ComputeHost
from domain.scheduling import FILTERS, HostCandidate, RequestSpec
from domain.values import SYSTEM, FlavorSnapshot, TaskState
from workers.runtime import SchedulerContext


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[Cloud]:
    cloud = build_cloud(database_url, tmp_path / "images")
    for name in ("h1", "h2", "h3"):
        cloud.register_host(name)
    yield cloud
    cloud.app.close()


def _eligible(host: HostCandidate) -> bool:
    """What the scheduler's ComputeFilter says of the host."""
    return FILTERS["ComputeFilter"](host, RequestSpec(FlavorSnapshot("1", "t", 1, 1, 1, 0, 0)))


def test_the_read_model_keeps_the_reason_and_offers_neither_disabled_nor_forced_down_hosts(
    cloud: Cloud,
) -> None:
    cloud.services.set_host_enabled("h1", False, SYSTEM, "maintenance")
    cloud.services.set_host_forced_down("h2", True, SYSTEM)
    hosts, projector = hosts_projector(cloud)
    try:
        projector.catch_up()
        rows = {r["name"]: r for r in hosts.list_hosts()}
        assert (rows["h1"]["enabled"], rows["h1"]["disabled_reason"]) == (False, "maintenance")
        assert (rows["h2"]["enabled"], rows["h2"]["forced_down"]) == (True, True)
        assert {c.name: _eligible(c) for c in hosts.candidates()} == {
            "h1": False,
            "h2": False,
            "h3": True,
        }

        cloud.services.set_host_enabled("h1", True, SYSTEM)
        cloud.services.set_host_forced_down("h2", False, SYSTEM)
        projector.catch_up()
        rows = {r["name"]: r for r in hosts.list_hosts()}
        assert (rows["h1"]["enabled"], rows["h1"]["disabled_reason"]) == (True, None)
        assert rows["h2"]["forced_down"] is False
        assert all(_eligible(c) for c in hosts.candidates())
    finally:
        hosts.datastore.close()


def test_a_placement_racing_a_force_down_claims_nothing(cloud: Cloud) -> None:
    iid = cloud.boot("racer")

    def operator() -> None:  # forces h1 down between the scheduler's load and save
        cloud.services.set_host_forced_down("h1", True, SYSTEM)

    raced = raced_app(cloud.database_url, ComputeHost, operator)
    try:
        placed = compute.place_on_host(raced, "h1", [iid])
    finally:
        raced.close()

    assert raced.race is None  # the operator did get in first
    assert placed == []
    host = cloud.host("h1")
    assert host.forced_down and host.claims == {}
    assert cloud.instance(iid).task_state == TaskState.SCHEDULING  # free to go elsewhere


def test_a_host_whose_worker_stopped_beating_is_down_for_the_scheduler(cloud: Cloud) -> None:
    hosts, projector = hosts_projector(cloud)
    try:
        projector.catch_up()
        context = SchedulerContext(cloud.app, hosts, hosts_up=lambda: {"h1", "h2"})
        assert {c.name: _eligible(c) for c in context.candidates()} == {
            "h1": True,
            "h2": True,
            "h3": False,
        }
        # Liveness cannot be told yet (see workers/heartbeats.py): every host counts as up.
        assert all(_eligible(c) for c in SchedulerContext(cloud.app, hosts).candidates())
    finally:
        hosts.datastore.close()
