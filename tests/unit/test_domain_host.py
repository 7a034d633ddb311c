"""Unit tests for the ComputeHost aggregate: claims within allocation ratios,
disabling (with a reason) and forcing down, and old events and snapshots."""

import pytest
from eventsourcing.domain import Snapshot

from commands.app import CloudApp
from domain.errors import Conflict, InsufficientCapacity, InvalidInput
from domain.host import ComputeHost, Resources
from domain.values import SYSTEM, Actor

ACTOR = Actor("service:scheduler", "p1", ("service",), "req-1")


def _host(
    vcpus: int = 16,
    ram_mb: int = 65536,
    disk_gb: int = 1000,
    cpu_ratio: float = 16.0,
    ram_ratio: float = 1.5,
    disk_ratio: float = 1.0,
) -> ComputeHost:
    host = ComputeHost(
        name="compute-1",
        vcpus=vcpus,
        ram_mb=ram_mb,
        disk_gb=disk_gb,
        cpu_ratio=cpu_ratio,
        ram_ratio=ram_ratio,
        disk_ratio=disk_ratio,
        zone="nova",
        actor=SYSTEM,
    )
    host.collect_events()
    return host


def test_host_id_is_derived_from_its_name() -> None:
    assert _host().id == ComputeHost.create_id("compute-1")
    assert ComputeHost.create_id("compute-1") != ComputeHost.create_id("compute-2")


def test_limits_apply_the_allocation_ratios() -> None:
    host = _host(vcpus=16, ram_mb=1000, disk_gb=100, ram_ratio=1.5, disk_ratio=2.0)
    assert host.limits == Resources(256, 1500, 200)


def test_sixteen_vcpu_host_with_ratio_sixteen_takes_256_vcpus() -> None:
    host = _host(vcpus=16, cpu_ratio=16.0)
    for n in range(32):
        host.claim(f"vm-{n}", 8, 1, 1, ACTOR)
    assert host.used.vcpus == 256
    assert host.free.vcpus == 0


def test_claim_past_the_vcpu_ratio_is_refused() -> None:
    host = _host(vcpus=16, cpu_ratio=16.0)
    host.claim("vm-0", 256, 1, 1, ACTOR)
    host.collect_events()
    with pytest.raises(InsufficientCapacity, match="cannot fit"):
        host.claim("vm-1", 1, 1, 1, ACTOR)
    assert host.collect_events() == []
    assert set(host.claims) == {"vm-0"}


def test_claim_past_the_ram_ratio_is_refused() -> None:
    host = _host(ram_mb=1000, ram_ratio=1.5)
    host.claim("vm-0", 1, 1500, 1, ACTOR)
    with pytest.raises(InsufficientCapacity):
        host.claim("vm-1", 1, 1, 1, ACTOR)


def test_claim_past_the_disk_ratio_is_refused() -> None:
    host = _host(disk_gb=100, disk_ratio=1.0)
    with pytest.raises(InsufficientCapacity):
        host.claim("vm-0", 1, 1, 101, ACTOR)


def test_claim_records_an_event_with_the_amounts() -> None:
    host = _host()
    host.claim("vm-0", 2, 2048, 20, ACTOR)
    (event,) = host.collect_events()
    assert isinstance(event, ComputeHost.Claimed)
    assert (event.instance_id, event.vcpus, event.ram_mb, event.disk_gb) == (
        "vm-0",
        2,
        2048,
        20,
    )
    assert host.used == Resources(2, 2048, 20)


def test_claim_is_idempotent_per_instance() -> None:
    host = _host()
    host.claim("vm-0", 2, 2048, 20, ACTOR)
    host.collect_events()
    host.claim("vm-0", 2, 2048, 20, ACTOR)
    assert host.collect_events() == []
    assert host.used == Resources(2, 2048, 20)


def test_disabled_host_refuses_claims() -> None:
    host = _host()
    host.set_enabled(False, SYSTEM)
    host.collect_events()
    with pytest.raises(InsufficientCapacity, match="disabled"):
        host.claim("vm-0", 1, 1, 1, ACTOR)
    assert host.claims == {}


def test_reenabled_host_accepts_claims_again() -> None:
    host = _host()
    host.set_enabled(False, SYSTEM)
    host.set_enabled(True, SYSTEM)
    host.claim("vm-0", 1, 1, 1, ACTOR)
    assert "vm-0" in host.claims


def test_set_enabled_to_the_current_value_appends_nothing() -> None:
    host = _host()
    host.set_enabled(True, SYSTEM)
    assert host.collect_events() == []
    host.set_enabled(False, SYSTEM)
    host.set_enabled(False, SYSTEM)
    assert len(host.collect_events()) == 1


def test_release_frees_the_claim() -> None:
    host = _host(vcpus=1, cpu_ratio=1.0)
    host.claim("vm-0", 1, 1, 1, ACTOR)
    host.release("vm-0", ACTOR)
    assert host.used == Resources(0, 0, 0)
    host.claim("vm-1", 1, 1, 1, ACTOR)
    assert set(host.claims) == {"vm-1"}


def test_release_twice_is_a_no_op() -> None:
    host = _host()
    host.claim("vm-0", 1, 1, 1, ACTOR)
    host.release("vm-0", ACTOR)
    host.collect_events()
    host.release("vm-0", ACTOR)
    assert host.collect_events() == []


def test_release_works_on_a_disabled_host() -> None:
    host = _host()
    host.claim("vm-0", 1, 1, 1, ACTOR)
    host.set_enabled(False, SYSTEM)
    host.release("vm-0", ACTOR)
    assert host.claims == {}


def test_fits_reflects_free_capacity() -> None:
    host = _host(vcpus=2, ram_mb=1024, disk_gb=10, cpu_ratio=1.0, ram_ratio=1.0)
    assert host.fits(2, 1024, 10)
    assert not host.fits(3, 1024, 10)
    host.claim("vm-0", 1, 512, 5, ACTOR)
    assert host.fits(1, 512, 5)
    assert not host.fits(1, 513, 5)


def test_check_same_capacity_accepts_identical_sizes() -> None:
    _host(vcpus=16, ram_mb=65536, disk_gb=1000).check_same_capacity(16, 65536, 1000)


def test_check_same_capacity_rejects_other_sizes() -> None:
    with pytest.raises(Conflict, match="already registered"):
        _host(vcpus=16).check_same_capacity(32, 65536, 1000)


def test_running_totals_match_the_claims_after_many_claims_and_releases() -> None:
    host = _host(vcpus=64, ram_mb=10**6, disk_gb=10**5)
    for n in range(300):
        host.claim(f"i-{n}", 1 + n % 3, 256 * (1 + n % 4), 1 + n % 5, SYSTEM)
        if n % 3 == 0:
            host.release(f"i-{n // 2}", SYSTEM)
    claims = host.claims.values()
    assert host.used == Resources(
        sum(c[0] for c in claims), sum(c[1] for c in claims), sum(c[2] for c in claims)
    )


def test_a_host_from_a_snapshot_older_than_the_totals_sums_its_claims_once() -> None:
    host = _host()
    host.claim("a", 2, 1024, 10, SYSTEM)
    host.claim("b", 1, 512, 5, SYSTEM)
    del host.__dict__["claimed_totals"]  # as restored from such a snapshot
    assert host.used == Resources(3, 1536, 15)
    host.release("a", SYSTEM)
    assert host.used == Resources(1, 512, 5)


def test_disable_with_a_reason_keeps_it_until_enabled() -> None:
    host = _host()
    host.disable("maintenance", SYSTEM)
    assert (host.enabled, host.disabled_reason) == (False, "maintenance")
    (event,) = host.collect_events()
    assert isinstance(event, ComputeHost.Disabled) and event.reason == "maintenance"
    host.enable(SYSTEM)
    assert (host.enabled, host.disabled_reason) == (True, None)
    assert [type(e) for e in host.collect_events()] == [ComputeHost.Enabled]


def test_disabling_again_with_another_reason_records_it_and_the_same_appends_nothing() -> None:
    host = _host()
    host.disable("maintenance", SYSTEM)
    host.disable("maintenance", SYSTEM)
    host.disable("new disk", SYSTEM)
    host.set_enabled(False, SYSTEM)  # Nova's plain disable: no reason any more
    assert [e.reason for e in host.collect_events()] == ["maintenance", "new disk", None]  # type: ignore[attr-defined]
    assert (host.enabled, host.disabled_reason) == (False, None)


@pytest.mark.parametrize("reason", ["", "   ", "a\x00b", "line\nbreak", "x" * 256])
def test_a_reason_that_is_not_printable_text_of_at_most_255_is_refused(reason: str) -> None:
    host = _host()
    with pytest.raises(InvalidInput):
        host.disable(reason, SYSTEM)
    assert host.collect_events() == [] and host.enabled


def test_a_reason_of_255_printable_characters_is_kept() -> None:
    host = _host()
    host.disable("é" * 255, SYSTEM)
    assert host.disabled_reason == "é" * 255


def test_forced_down_host_refuses_claims_until_the_force_is_lifted() -> None:
    host = _host()
    host.set_forced_down(True, SYSTEM)
    assert [type(e) for e in host.collect_events()] == [ComputeHost.ForcedDown]
    assert host.enabled  # forced down is not disabled: the two are separate
    with pytest.raises(InsufficientCapacity, match="forced down"):
        host.claim("vm-0", 1, 1, 1, ACTOR)
    assert host.claims == {} and host.collect_events() == []
    host.set_forced_down(False, SYSTEM)
    assert [type(e) for e in host.collect_events()] == [ComputeHost.ForceDownCleared]
    host.claim("vm-0", 1, 1, 1, ACTOR)
    assert "vm-0" in host.claims


def test_forcing_down_to_the_current_value_appends_nothing() -> None:
    host = _host()
    host.set_forced_down(False, SYSTEM)
    assert host.collect_events() == []
    host.set_forced_down(True, SYSTEM)
    host.set_forced_down(True, SYSTEM)
    assert len(host.collect_events()) == 1


def test_release_works_on_a_forced_down_host() -> None:
    host = _host()
    host.claim("vm-0", 1, 1, 1, ACTOR)
    host.set_forced_down(True, SYSTEM)
    host.release("vm-0", ACTOR)
    assert host.claims == {}


def _app_with(host: ComputeHost) -> CloudApp:
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.save(host)
    return app


def test_hosts_disabled_by_the_first_enabled_event_read_back_without_a_reason() -> None:
    host = ComputeHost(
        name="old", vcpus=1, ram_mb=1, disk_gb=1, cpu_ratio=1, ram_ratio=1, disk_ratio=1,
        zone="nova", actor=SYSTEM,
    )  # fmt: skip
    host._enabled_set(False, SYSTEM)  # the event as ledgers before reasons hold it
    app = _app_with(host)
    back = app.repository.get(host.id)
    assert (back.enabled, back.disabled_reason, back.forced_down) == (False, None, False)
    back.enable(SYSTEM)
    app.save(back)
    assert app.repository.get(host.id).enabled


def test_a_host_snapshot_of_the_first_class_version_reads_back_enabled_as_it_was() -> None:
    host = _host()
    host.claim("a", 2, 1024, 10, SYSTEM)
    host.set_enabled(False, SYSTEM)
    app = _app_with(host)
    taken = Snapshot.take(host)
    state = {
        k: v
        for k, v in taken.state.items()
        if k not in ("class_version", "disabled_reason", "forced_down")
    }  # what version 1 of the aggregate wrote
    v1 = Snapshot(
        originator_id=taken.originator_id,
        originator_version=taken.originator_version,
        timestamp=taken.timestamp,
        topic=taken.topic,
        state=state,
    )
    stored = app.mapper.to_stored_event(v1)
    back = app.mapper.to_domain_event(stored).mutate(None)
    assert isinstance(back, ComputeHost)
    assert (back.enabled, back.disabled_reason, back.forced_down) == (False, None, False)
    assert back.used == Resources(2, 1024, 10)
    back.set_forced_down(True, SYSTEM)
    assert back.forced_down
