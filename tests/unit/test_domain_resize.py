"""Resize on the Instance aggregate (domain/resize.py), and what it holds of
hosts and quota: two claims until it is confirmed or reverted, quota by the
difference."""

from datetime import UTC, datetime

import pytest

from domain.errors import InvalidInput, InvalidTransition, QuotaExceeded
from domain.host import ComputeHost
from domain.instance import Instance
from domain.quota import Quota
from domain.resize import Resizing, resize_claim_key
from domain.values import Actor, FlavorSnapshot, PowerState, TaskState, VmState

USER = Actor("u1", "p1", ("member",), "req-1")
WORKER = USER.as_service("compute")
TINY = FlavorSnapshot("1", "m1.tiny", 1, 512, 1, 0, 0)
SMALL = FlavorSnapshot("2", "m1.small", 1, 2048, 20, 0, 0)
TINY_DISKLESS = FlavorSnapshot("3", "m1.nano", 1, 256, 0, 0, 0)


def _active(flavor: FlavorSnapshot = TINY) -> Instance:
    instance = Instance(
        project_id="p1", user_id="u1", name="vm", flavor=flavor, image_id="img",
        networks=[], actor=USER,
    )  # fmt: skip
    instance.schedule_on("compute-1", WORKER)
    instance.mark_spawned(WORKER, now=datetime(2026, 12, 1, tzinfo=UTC))
    instance.collect_events()
    return instance


def _resized(dest: str = "compute-2") -> Instance:
    instance = _active()
    instance.request_resize(SMALL, USER)
    instance.resize_scheduled(dest, WORKER)
    instance.mark_migrated(WORKER)
    instance.mark_resize_finished(WORKER)
    return instance


def test_a_resize_holds_the_source_claim_and_one_for_the_new_flavor() -> None:
    instance = _active()
    instance.request_resize(SMALL, USER)
    assert instance.task_state == TaskState.RESIZE_PREP
    assert instance.held_claims() == [("compute-1", str(instance.id))]

    instance.resize_scheduled("compute-2", WORKER)
    both = [("compute-1", str(instance.id)), ("compute-2", resize_claim_key(instance.id))]
    assert instance.held_claims() == both

    instance.mark_migrated(WORKER)
    instance.mark_resize_finished(WORKER)
    assert (instance.vm_state, instance.host, instance.flavor) == (
        VmState.RESIZED,
        "compute-2",
        SMALL,
    )
    assert instance.held_claims() == both  # until confirmed or reverted


def test_confirm_keeps_only_the_destination_claim_and_asks_to_drop_the_stash() -> None:
    instance = _resized()
    instance.confirm_resize(USER)
    instance.request_stash_drop(USER)

    assert (instance.vm_state, instance.flavor) == (VmState.ACTIVE, SMALL)
    assert instance.held_claims() == [("compute-2", str(instance.id))]
    dropping = instance.collect_events()[-1]
    assert isinstance(dropping, Resizing.StashDropRequested) and dropping.host == "compute-1"
    instance.mark_stash_dropped("compute-1", WORKER)
    assert instance.stash_host is None


def test_revert_goes_back_to_the_source_with_the_old_flavor() -> None:
    instance = _resized()
    instance.request_revert(USER)
    with pytest.raises(InvalidTransition):
        instance.mark_reverted(WORKER)  # the destination must clean up first

    instance.mark_dest_cleaned(WORKER)
    assert instance.host == "compute-1"  # a delete from here goes to the source
    instance.mark_reverted(WORKER)

    assert (instance.vm_state, instance.task_state, instance.flavor) == (
        VmState.ACTIVE,
        None,
        TINY,
    )
    assert instance.power_state == PowerState.RUNNING
    assert instance.held_claims() == [("compute-1", str(instance.id))]
    assert instance.stash_host is None  # restored, not dropped


def test_a_resize_on_the_same_host_holds_two_claims_there() -> None:
    instance = _resized(dest="compute-1")
    assert instance.held_claims() == [
        ("compute-1", str(instance.id)),
        ("compute-1", resize_claim_key(instance.id)),
    ]


def test_a_stopped_server_resizes_and_stays_stopped() -> None:
    instance = _active()
    instance.request_stop(USER)
    instance.mark_stopped(WORKER)
    instance.request_resize(SMALL, USER)
    instance.resize_scheduled("compute-1", WORKER)
    instance.mark_migrated(WORKER)
    instance.mark_resize_finished(WORKER)
    assert instance.power_state == PowerState.SHUTDOWN

    instance.confirm_resize(USER)
    assert instance.vm_state == VmState.STOPPED


def test_a_refused_resize_leaves_the_server_as_it_was() -> None:
    instance = _active()
    instance.request_resize(SMALL, USER)
    instance.refuse_resize("No valid host was found.", WORKER)

    assert (instance.vm_state, instance.task_state, instance.flavor) == (
        VmState.ACTIVE,
        None,
        TINY,
    )
    assert instance.resize_to is None and instance.held_claims() == [
        ("compute-1", str(instance.id))
    ]


@pytest.mark.parametrize(
    ("flavor", "message"),
    [(TINY, "must change flavor"), (TINY_DISKLESS, "smaller root disk")],
)
def test_a_resize_must_change_the_flavor_and_never_shrink_the_root(
    flavor: FlavorSnapshot, message: str
) -> None:
    instance = _active()
    with pytest.raises(InvalidInput, match=message):
        instance.request_resize(flavor, USER)
    assert instance.collect_events() == []


def test_confirm_and_revert_need_a_resized_server() -> None:
    instance = _active()
    with pytest.raises(InvalidTransition):
        instance.confirm_resize(USER)
    with pytest.raises(InvalidTransition):
        instance.request_revert(USER)
    instance.request_resize(SMALL, USER)
    with pytest.raises(InvalidTransition):
        instance.request_resize(SMALL, USER)  # one at a time


def test_quota_moves_by_the_difference_and_only_growth_is_checked() -> None:
    quota = Quota(project_id="p1", limits={"instances": 10, "cores": 20, "ram": 3000}, actor=USER)
    quota.reserve("i1", {"instances": 1, "cores": 1, "ram": 512}, USER)
    quota.reserve("i2", {"instances": 1, "cores": 1, "ram": 512}, USER)

    quota.adjust("i1", {"instances": 1, "cores": 1, "ram": 2048}, USER)
    assert quota.in_use == {"instances": 2, "cores": 2, "ram": 2560}
    event = quota.collect_events()[-1]
    assert isinstance(event, Quota.Adjusted) and event.change == {
        "instances": 0,
        "cores": 0,
        "ram": 1536,
    }

    with pytest.raises(QuotaExceeded):
        quota.adjust("i2", {"instances": 1, "cores": 1, "ram": 1024}, USER)
    quota.set_limits({"ram": 1000}, USER)  # lowered below usage
    quota.adjust("i1", {"instances": 1, "cores": 1, "ram": 512}, USER)  # shrinking fits
    assert quota.in_use["ram"] == 1024


def test_a_renamed_claim_keeps_its_room_on_the_host() -> None:
    host = ComputeHost(
        name="compute-1", vcpus=4, ram_mb=4096, disk_gb=100, cpu_ratio=1.0, ram_ratio=1.0,
        disk_ratio=1.0, zone="nova", actor=USER,
    )  # fmt: skip
    host.claim("i1", 1, 512, 1, USER)
    host.claim("i1/resize", 1, 2048, 20, USER)
    host.release("i1", USER)
    host.rename_claim("i1/resize", "i1", USER)

    assert host.claims == {"i1": [1, 2048, 20]}
    assert (host.used.ram_mb, host.used.disk_gb) == (2048, 20)
