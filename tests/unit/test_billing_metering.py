"""The billing replay's metering: the registry's rules turn events into
stretches, split at every change of flavor or state, measured exactly."""

from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest
from eventsourcing.utils import resolve_topic

from domain.image import Image
from domain.instance import Instance
from domain.metering import (
    Metering,
    as_intervals,
    totals_by_project,
    usage_lines,
)
from domain.meters import GIB, RULES, Began, Ended, Opened, Redescribed, changes_of
from domain.usage import usage_by_project
from domain.values import Actor, FlavorSnapshot

T0 = datetime(2026, 11, 1, tzinfo=UTC)
I1, NEVER, RAN, GHOST, IMG = (
    uuid5(NAMESPACE_URL, n) for n in ("i1", "never", "ran", "ghost", "img")
)
USER = Actor("u1", "p1", ("member",), "req")
WORKER = USER.as_service("compute")
TINY = {"vcpus": 1, "ram_mb": 512, "root_gb": 1, "ephemeral_gb": 0}
SMALL = {"vcpus": 2, "ram_mb": 2048, "root_gb": 20, "ephemeral_gb": 5}


def _at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _instance(metering: Metering, rid: UUID = I1, project: str = "p1") -> None:
    metering.apply(Opened(rid, "instance", project, "vm", "m1.tiny", TINY))


def test_every_rule_names_a_stored_event_class() -> None:
    for topic in RULES:
        assert resolve_topic(topic).__name__ in topic


def test_an_instances_events_become_stretches_split_at_the_stop() -> None:
    flavor = FlavorSnapshot("1", "m1.tiny", 1, 512, 1, 0, 0)
    vm = Instance(
        project_id="p1", user_id="u1", name="vm", flavor=flavor, image_id=IMG,
        networks=[], actor=USER,
    )  # fmt: skip
    vm.schedule_on("compute-1", WORKER)
    vm.mark_spawned(WORKER, now=datetime.now(UTC))
    vm.request_stop(USER)
    vm.mark_stopped(WORKER)
    metering = Metering(_at(-1), datetime.now(UTC) + timedelta(hours=1))
    for event in vm.collect_events():
        metering.apply_event(event)

    found = metering.stretches()
    assert [(s.state, s.product) for s in found] == [("active", "m1.tiny"), ("stopped", "m1.tiny")]
    assert found[0].ended_at == found[1].started_at
    assert found[1].ended_at is None
    assert dict(found[0].quantities) == TINY


def test_events_no_rule_names_change_nothing() -> None:
    image = Image(
        owner="p1", name=IMG, disk_format="qcow2", container_format="bare",
        visibility="private", min_disk=0, min_ram=0, properties={}, actor=USER,
    )  # fmt: skip
    image.start_upload("up-1", USER)  # no rule: nothing is stored yet
    assert [type(c) for e in image.collect_events() for c in changes_of(e)] == [Opened]


def test_a_resize_is_a_new_line_at_the_new_size() -> None:
    m = Metering(_at(0), _at(10))
    _instance(m)
    m.apply(Began(I1, "active", _at(1)))
    m.apply(Redescribed(I1, product="m1.small", quantities=SMALL))
    m.apply(Began(I1, "resized", _at(3)))
    m.apply(Began(I1, "active", _at(4)))
    m.apply(Ended(I1, _at(6)))

    lines = usage_lines(m, now=_at(10))
    assert [(x.product, x.state, x.micros) for x in lines] == [
        ("m1.tiny", "active", 2 * 3600 * 10**6),
        ("m1.small", "resized", 3600 * 10**6),
        ("m1.small", "active", 2 * 3600 * 10**6),
    ]
    totals = totals_by_project(lines)["p1"]
    assert totals.meters["vcpu_hours"] == (2 * 1 + 3 * 2) * 3600 * 10**6
    assert totals.meters["ephemeral_gb_hours"] == 3 * 5 * 3600 * 10**6
    assert totals.micros == {
        ("instance", "m1.tiny", "active"): 2 * 3600 * 10**6,
        ("instance", "m1.small", "active"): 2 * 3600 * 10**6,
        ("instance", "m1.small", "resized"): 3600 * 10**6,
    }


def test_stretches_are_clipped_to_the_period_and_outside_ones_dropped() -> None:
    m = Metering(_at(2), _at(5))
    _instance(m)
    m.apply(Began(I1, "active", _at(0)))
    m.apply(Began(I1, "stopped", _at(1)))  # the active stretch ends before the period
    m.apply(Began(I1, "active", _at(3)))
    assert [s.state for s in m.stretches()] == ["stopped", "active"]
    lines = usage_lines(m, now=_at(4))  # still running: counts up to now
    assert [(x.state, x.started_at, x.ended_at) for x in lines] == [
        ("stopped", _at(2), _at(3)),
        ("active", _at(3), _at(4)),
    ]


def test_a_failed_build_uses_nothing_and_a_failure_of_a_running_one_is_a_line() -> None:
    m = Metering(_at(0), _at(10))
    _instance(m, NEVER)
    m.apply(Began(NEVER, "error", _at(1), only_if_open=True))
    _instance(m, RAN)
    m.apply(Began(RAN, "active", _at(1)))
    m.apply(Began(RAN, "error", _at(2), only_if_open=True))
    assert [(s.resource_id, s.state) for s in m.stretches()] == [
        (RAN, "active"),
        (RAN, "error"),
    ]


def test_a_second_stretch_at_the_same_moment_is_not_recorded() -> None:
    m = Metering(_at(0), _at(10))
    _instance(m)
    m.apply(Began(I1, "active", _at(1)))
    m.apply(Began(I1, "paused", _at(1)))  # as the usage table's key on the start refuses it
    assert [(s.state, s.ended_at) for s in m.stretches()] == [("active", _at(1))]


def test_image_storage_is_metered_from_upload_to_deletion_for_its_owner() -> None:
    m = Metering(_at(0), _at(10))
    m.apply(Opened(IMG, "image", "p1", "cirros", "image", {"image_bytes": 0}))
    m.apply(Redescribed(IMG, quantities={"image_bytes": 2 * GIB}))
    m.apply(Began(IMG, "active", _at(1)))
    m.apply(Redescribed(IMG, project_id="p2"))
    m.apply(Began(IMG, "active", _at(2), only_if_open=True))
    m.apply(Ended(IMG, _at(5)))
    totals = totals_by_project(usage_lines(m, now=_at(10)))
    assert totals["p1"].meters == {"image_gb_hours": 2 * 1 * 3600 * 10**6 * GIB}
    assert totals["p2"].meters == {"image_gb_hours": 2 * 3 * 3600 * 10**6 * GIB}


def test_the_usage_apis_arithmetic_on_the_replayed_stretches() -> None:
    m = Metering(_at(0), _at(10))
    _instance(m)
    m.apply(Began(I1, "active", _at(1)))
    m.apply(Began(I1, "stopped", _at(2.5)))
    usage = usage_by_project(as_intervals(m), _at(0), _at(10), now=_at(4))["p1"]
    lines = usage_lines(m, now=_at(4))
    assert usage.hours == pytest.approx(sum(x.micros for x in lines) / 3.6e9)
    assert usage.instances[str(I1)].state == "stopped"


def test_a_change_for_a_resource_never_opened_is_ignored() -> None:
    m = Metering(_at(0), _at(10))
    m.apply(Began(GHOST, "active", _at(1)))
    m.apply(Ended(GHOST, _at(2)))
    assert m.stretches() == []
