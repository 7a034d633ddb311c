"""Unit tests for CloudApp: transcodings and snapshots survive a reload."""

import json
from dataclasses import replace
from uuid import uuid4

from commands.app import CloudApp
from domain.host import ComputeHost, Resources
from domain.instance import Instance
from domain.quota import Quota
from domain.values import SYSTEM, Actor, FlavorSnapshot

USER = Actor("u1", "p1", ("member", "reader"), "req-1")


def _app() -> CloudApp:
    return CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_actor_and_flavor_snapshot_round_trip_through_the_store() -> None:
    app = _app()
    flavor = FlavorSnapshot("1", "m1.tiny", 1, 512, 1, 0, 0)
    instance = Instance(
        project_id="p1",
        user_id="u1",
        name="vm",
        flavor=flavor,
        image_id="img",
        networks=[],
        actor=USER,
    )
    app.save(instance)
    loaded = app.repository.get(instance.id)
    assert isinstance(loaded, Instance)
    assert loaded.flavor == flavor
    assert loaded.last_request == USER
    assert isinstance(loaded.last_request.roles, tuple)


def test_quota_snapshot_reloads_the_same_allocations() -> None:
    app = _app()
    quota = Quota(project_id="p1", limits={"instances": -1, "cores": -1}, actor=SYSTEM)
    app.save(quota)
    for n in range(210):
        quota.reserve(f"vm-{n}", {"instances": 1, "cores": 2}, SYSTEM)
        if n % 2:
            quota.release(f"vm-{n - 1}", SYSTEM)
        app.save(quota)
    assert app.snapshots is not None
    assert list(app.snapshots.get(quota.id))
    loaded = app.repository.get(quota.id)
    assert isinstance(loaded, Quota)
    assert loaded.version == quota.version
    assert loaded.allocations == quota.allocations
    assert loaded.in_use == quota.in_use


def test_host_snapshot_reloads_the_same_claims() -> None:
    app = _app()
    host = ComputeHost(
        name="compute-1",
        vcpus=64,
        ram_mb=1 << 20,
        disk_gb=10000,
        cpu_ratio=16.0,
        ram_ratio=1.5,
        disk_ratio=1.0,
        zone="nova",
        actor=SYSTEM,
    )
    app.save(host)
    for _ in range(200):
        host.claim(str(uuid4()), 1, 512, 1, SYSTEM)
        app.save(host)
    assert app.snapshots is not None
    assert list(app.snapshots.get(host.id))
    loaded = app.repository.get(host.id)
    assert isinstance(loaded, ComputeHost)
    assert loaded.claims == host.claims
    assert loaded.used == Resources(200, 200 * 512, 200)
    assert loaded.fits(1, 512, 1)


def test_a_flavor_snapshot_keeps_its_extra_specs_through_the_store() -> None:
    app = _app()
    flavor = FlavorSnapshot("1", "m1.tiny", 1, 512, 1, 0, 0, {"hw:cpu_policy": "dedicated"})
    instance = Instance("p1", "u1", "vm", flavor, "img", "none", USER)
    app.save(instance)
    loaded = app.repository.get(instance.id)
    assert isinstance(loaded, Instance)
    assert loaded.flavor.extra_specs == {"hw:cpu_policy": "dedicated"}


def test_a_requested_event_stored_before_extra_specs_still_reads_back() -> None:
    """Events are never rewritten: one stored without the field decodes with {}."""
    app = _app()
    instance = Instance(
        "p1", "u1", "vm", FlavorSnapshot("1", "t", 1, 512, 1, 0, 0), "img", "none", USER
    )
    app.save(instance)
    (stored,) = app.recorder.select_events(instance.id)
    state = json.loads(stored.state)
    snapshot = state["flavor"]["_data_"]
    del snapshot["extra_specs"]  # exactly what the earlier code wrote
    old = replace(stored, state=json.dumps(state).encode())
    event = app.mapper.to_domain_event(old)
    assert isinstance(event, Instance.Requested)
    assert event.flavor == FlavorSnapshot("1", "t", 1, 512, 1, 0, 0)
    assert event.flavor.extra_specs == {}
