"""Unit tests for the Quota aggregate: reservations never exceed the limits."""

import pytest

from domain.errors import InvalidInput, QuotaExceeded
from domain.quota import UNLIMITED, Quota
from domain.values import Actor

ACTOR = Actor("u1", "p1", ("member",), "req-1")


def _quota(instances: int = 5, cores: int = 20, ram: int = 51200) -> Quota:
    quota = Quota(
        project_id="p1",
        limits={"instances": instances, "cores": cores, "ram": ram},
        actor=ACTOR,
    )
    quota.collect_events()
    return quota


def _one_vm(cores: int = 1, ram: int = 512) -> dict[str, int]:
    return {"instances": 1, "cores": cores, "ram": ram}


def test_quota_id_is_derived_from_the_project_id() -> None:
    assert Quota.create_id("p1") == Quota.create_id("p1")
    assert Quota.create_id("p1") != Quota.create_id("p2")
    assert _quota().id == Quota.create_id("p1")


def test_reserve_up_to_the_limit_is_allowed() -> None:
    quota = _quota(instances=5)
    for n in range(5):
        quota.reserve(f"vm-{n}", _one_vm(), ACTOR)
    assert quota.in_use == {"instances": 5, "cores": 5, "ram": 2560}
    assert len(quota.collect_events()) == 5


def test_reserve_one_past_the_instance_limit_raises_novas_message() -> None:
    quota = _quota(instances=5)
    for n in range(5):
        quota.reserve(f"vm-{n}", _one_vm(), ACTOR)
    quota.collect_events()
    with pytest.raises(QuotaExceeded) as exc:
        quota.reserve("vm-5", _one_vm(), ACTOR)
    assert exc.value.message == (
        "Quota exceeded for instances: Requested 1, but already used 5 of 5 instances"
    )
    assert exc.value.resource == "instances"


def test_rejected_reservation_changes_nothing() -> None:
    quota = _quota(instances=1)
    quota.reserve("vm-0", _one_vm(), ACTOR)
    quota.collect_events()
    with pytest.raises(QuotaExceeded):
        quota.reserve("vm-1", _one_vm(), ACTOR)
    assert quota.collect_events() == []
    assert set(quota.allocations) == {"vm-0"}


def test_reserve_over_the_cores_limit_raises() -> None:
    quota = _quota(cores=20)
    quota.reserve("vm-0", _one_vm(cores=18), ACTOR)
    with pytest.raises(QuotaExceeded) as exc:
        quota.reserve("vm-1", _one_vm(cores=4), ACTOR)
    assert exc.value.resource == "cores"
    assert exc.value.message == (
        "Quota exceeded for cores: Requested 4, but already used 18 of 20 cores"
    )


def test_reserve_over_the_ram_limit_raises() -> None:
    quota = _quota(ram=2048)
    quota.reserve("vm-0", _one_vm(ram=1024), ACTOR)
    with pytest.raises(QuotaExceeded) as exc:
        quota.reserve("vm-1", _one_vm(ram=2048), ACTOR)
    assert exc.value.resource == "ram"
    assert "Requested 2048, but already used 1024 of 2048 ram" in exc.value.message


def test_reserve_exactly_filling_cores_is_allowed() -> None:
    quota = _quota(cores=4)
    quota.reserve("vm-0", _one_vm(cores=4), ACTOR)
    assert quota.in_use["cores"] == 4


def test_reserve_records_consumer_and_amounts_on_the_event() -> None:
    quota = _quota()
    quota.reserve("vm-0", _one_vm(cores=2, ram=2048), ACTOR)
    (event,) = quota.collect_events()
    assert isinstance(event, Quota.Reserved)
    assert event.consumer_id == "vm-0"
    assert event.amounts == {"instances": 1, "cores": 2, "ram": 2048}
    assert event.actor == ACTOR


def test_reserve_twice_for_the_same_consumer_is_a_no_op() -> None:
    quota = _quota()
    quota.reserve("vm-0", _one_vm(), ACTOR)
    quota.collect_events()
    quota.reserve("vm-0", _one_vm(), ACTOR)
    assert quota.collect_events() == []
    assert quota.in_use["instances"] == 1


def test_release_gives_the_resources_back() -> None:
    quota = _quota(instances=1)
    quota.reserve("vm-0", _one_vm(cores=2, ram=1024), ACTOR)
    quota.release("vm-0", ACTOR)
    assert quota.in_use == {"instances": 0, "cores": 0, "ram": 0}
    quota.reserve("vm-1", _one_vm(), ACTOR)
    assert set(quota.allocations) == {"vm-1"}


def test_release_event_records_what_was_given_back() -> None:
    quota = _quota()
    quota.reserve("vm-0", _one_vm(cores=2, ram=1024), ACTOR)
    quota.collect_events()
    quota.release("vm-0", ACTOR)
    (event,) = quota.collect_events()
    assert isinstance(event, Quota.Released)
    assert event.consumer_id == "vm-0"
    assert event.amounts == {"instances": 1, "cores": 2, "ram": 1024}


def test_double_release_is_a_no_op_without_an_event() -> None:
    quota = _quota()
    quota.reserve("vm-0", _one_vm(), ACTOR)
    quota.release("vm-0", ACTOR)
    quota.collect_events()
    quota.release("vm-0", ACTOR)
    assert quota.collect_events() == []


def test_release_of_an_unknown_consumer_is_a_no_op() -> None:
    quota = _quota()
    quota.release("never-reserved", ACTOR)
    assert quota.collect_events() == []


def test_unlimited_limit_never_rejects() -> None:
    quota = _quota(instances=UNLIMITED, cores=UNLIMITED, ram=UNLIMITED)
    for n in range(50):
        quota.reserve(f"vm-{n}", _one_vm(cores=64, ram=1 << 20), ACTOR)
    assert quota.in_use["instances"] == 50


def test_resource_without_a_limit_is_unlimited() -> None:
    quota = _quota()
    quota.reserve("vm-0", {"instances": 1, "gpus": 99}, ACTOR)
    assert quota.in_use["gpus"] == 99


def test_zero_limit_rejects_any_request() -> None:
    quota = _quota(instances=0)
    with pytest.raises(QuotaExceeded, match="already used 0 of 0 instances"):
        quota.reserve("vm-0", _one_vm(), ACTOR)


def test_set_limits_changes_only_differing_values() -> None:
    quota = _quota(instances=5, cores=20)
    quota.set_limits({"instances": 5, "cores": 40}, ACTOR)
    (event,) = quota.collect_events()
    assert isinstance(event, Quota.LimitsSet)
    assert event.limits == {"cores": 40}
    assert quota.limits == {"instances": 5, "cores": 40, "ram": 51200}


def test_set_limits_to_the_same_values_appends_nothing() -> None:
    quota = _quota(instances=5)
    quota.set_limits({"instances": 5}, ACTOR)
    assert quota.collect_events() == []


def test_set_limits_accepts_unlimited() -> None:
    quota = _quota(instances=1)
    quota.set_limits({"instances": UNLIMITED}, ACTOR)
    for n in range(3):
        quota.reserve(f"vm-{n}", _one_vm(), ACTOR)
    assert quota.in_use["instances"] == 3


def test_set_limits_rejects_an_unknown_resource() -> None:
    quota = _quota()
    with pytest.raises(InvalidInput, match="Unknown quota resource: gpus"):
        quota.set_limits({"gpus": 1}, ACTOR)
    assert quota.collect_events() == []


def test_set_limits_rejects_values_below_minus_one() -> None:
    quota = _quota()
    with pytest.raises(InvalidInput, match="must be between -1 and"):
        quota.set_limits({"cores": -2}, ACTOR)
    assert quota.limits["cores"] == 20


def test_set_limits_validates_everything_before_changing_anything() -> None:
    quota = _quota()
    with pytest.raises(InvalidInput):
        quota.set_limits({"cores": 40, "ram": -5}, ACTOR)
    assert quota.limits["cores"] == 20
    assert quota.collect_events() == []


def test_lowering_a_limit_below_usage_is_allowed_but_blocks_new_reservations() -> None:
    quota = _quota(instances=5)
    for n in range(3):
        quota.reserve(f"vm-{n}", _one_vm(), ACTOR)
    quota.set_limits({"instances": 2}, ACTOR)
    assert quota.in_use["instances"] == 3
    with pytest.raises(QuotaExceeded, match="already used 3 of 2 instances"):
        quota.reserve("vm-3", _one_vm(), ACTOR)


def test_quota_replays_to_the_same_state() -> None:
    quota = Quota(project_id="p1", limits={"instances": 5}, actor=ACTOR)
    quota.reserve("vm-0", _one_vm(), ACTOR)
    quota.reserve("vm-1", _one_vm(), ACTOR)
    quota.release("vm-0", ACTOR)
    quota.set_limits({"cores": 8}, ACTOR)
    replayed = None
    for event in quota.collect_events():
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Quota)
    assert replayed.allocations == quota.allocations
    assert replayed.limits == quota.limits


def test_a_quota_from_a_snapshot_older_than_the_totals_sums_its_allocations_once() -> None:
    quota = _quota()
    quota.reserve("a", {"instances": 1, "cores": 2, "ram": 512}, ACTOR)
    quota.reserve("b", {"instances": 1, "cores": 1, "ram": 256}, ACTOR)
    del quota.__dict__["reserved_totals"]  # as restored from such a snapshot
    assert quota.in_use == {"instances": 2, "cores": 3, "ram": 768}
    quota.release("a", ACTOR)
    assert quota.in_use == {"instances": 1, "cores": 1, "ram": 256}


def test_several_consumers_are_held_in_one_event_or_none_is() -> None:
    quota = _quota(instances=2)
    quota.reserve_many({"vm-0": _one_vm(), "port-0": {"port": 1}}, ACTOR)
    (event,) = quota.collect_events()
    assert isinstance(event, Quota.ManyReserved)
    assert event.amounts == {"cores": 1, "instances": 1, "port": 1, "ram": 512}
    assert quota.allocations == {"vm-0": _one_vm(), "port-0": {"port": 1}}

    with pytest.raises(QuotaExceeded, match="instances"):  # two more do not fit: neither is held
        quota.reserve_many({"vm-1": _one_vm(), "vm-2": _one_vm()}, ACTOR)
    assert quota.collect_events() == []
    assert set(quota.allocations) == {"vm-0", "port-0"}


def test_reserving_many_skips_consumers_that_hold_already() -> None:
    quota = _quota()
    quota.reserve("vm-0", _one_vm(), ACTOR)
    quota.collect_events()
    quota.reserve_many({"vm-0": _one_vm(cores=4), "port-0": {"port": 1}}, ACTOR)
    (event,) = quota.collect_events()  # one new consumer: the event of one reservation
    assert isinstance(event, Quota.Reserved) and event.consumer_id == "port-0"
    assert quota.in_use["cores"] == 1


def test_several_consumers_give_back_in_one_event_and_unknown_ones_are_skipped() -> None:
    quota = _quota()
    quota.reserve_many({"vm-0": _one_vm(2), "port-0": {"port": 1}, "vm-1": _one_vm()}, ACTOR)
    quota.collect_events()
    quota.release_many(["vm-0", "port-0", "never-held"], ACTOR)
    (event,) = quota.collect_events()
    assert isinstance(event, Quota.ManyReleased)
    assert event.amounts == {"cores": 2, "instances": 1, "port": 1, "ram": 512}
    assert quota.in_use == {"instances": 1, "cores": 1, "ram": 512, "port": 0}
    quota.release_many(["vm-0", "never-held"], ACTOR)  # again: nothing held, nothing recorded
    assert quota.collect_events() == []


def test_many_at_once_replays_to_the_same_state() -> None:
    quota = Quota(project_id="p1", limits={"instances": 5}, actor=ACTOR)
    quota.reserve_many({"vm-0": _one_vm(), "port-0": {"port": 1}, "vm-1": _one_vm()}, ACTOR)
    quota.release_many(["vm-0", "port-0"], ACTOR)
    replayed = None
    for event in quota.collect_events():
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Quota)
    assert replayed.allocations == quota.allocations == {"vm-1": _one_vm()}
    assert replayed.in_use == quota.in_use
