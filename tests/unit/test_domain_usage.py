"""Usage arithmetic: overlap with the period, one flavor per interval."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.usage import Interval, overlap_hours, usage_by_project

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _interval(start: float, end: float | None, state: str = "active", vcpus: int = 1) -> Interval:
    return Interval(
        "i1", "p1", "vm", state, vcpus, 512 * vcpus, 10, "m1", _at(start),
        None if end is None else _at(end),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("started", "ended", "hours"),
    [
        (1, 3, 2.0),  # inside the period
        (-5, 3, 3.0),  # began before it
        (1, None, 9.0),  # still running at its end
        (-5, -1, 0.0),  # over before it began
        (12, None, 0.0),  # began after it
    ],
)
def test_overlap_with_the_period(started: float, ended: float | None, hours: float) -> None:
    end = None if ended is None else _at(ended)
    assert overlap_hours(_at(started), end, _at(0), _at(10)) == pytest.approx(hours)


def test_a_stop_splits_the_figures_and_each_interval_counts_at_its_size() -> None:
    intervals = [_interval(0, 4, "active", vcpus=2), _interval(4, None, "stopped", vcpus=4)]
    usage = usage_by_project(intervals, _at(2), _at(6), now=_at(100))["p1"]
    instance = usage.instances["i1"]
    assert instance.hours == pytest.approx(4.0)
    assert instance.vcpu_hours == pytest.approx(2 * 2 + 2 * 4)  # not 4 h x the latest size
    assert instance.ram_mb_hours == pytest.approx(2 * 1024 + 2 * 2048)
    assert instance.state == "stopped" and instance.vcpus == 4
    assert usage.hours == pytest.approx(4.0) and usage.disk_gb_hours == pytest.approx(40.0)


def test_intervals_outside_the_period_make_no_usage() -> None:
    assert usage_by_project([_interval(0, 1)], _at(5), _at(6), now=_at(100)) == {}


def test_a_running_instance_counts_up_to_now_not_to_a_period_end_ahead() -> None:
    usage = usage_by_project([_interval(0, None)], _at(0), _at(24), now=_at(3))["p1"]
    assert usage.hours == pytest.approx(3.0)


def test_a_resize_then_a_stop_price_each_stretch_at_its_own_flavor() -> None:
    # m1.tiny (1 vCPU) for 2 h; resized to 2 vCPUs, waiting 1 h for a
    # confirm; confirmed, 2 h more; then stopped, still holding 2 vCPUs.
    intervals = [
        _interval(0, 2, "active", vcpus=1),
        _interval(2, 3, "resized", vcpus=2),
        _interval(3, 5, "active", vcpus=2),
        _interval(5, None, "stopped", vcpus=2),
    ]
    usage = usage_by_project(intervals, _at(1), _at(6), now=_at(6))["p1"].instances["i1"]
    assert usage.hours == pytest.approx(5.0)
    assert usage.vcpu_hours == pytest.approx(1 * 1 + 1 * 2 + 2 * 2 + 1 * 2)
    assert usage.ram_mb_hours == pytest.approx(512 * 1 + 1024 * (1 + 2 + 1))
    assert (usage.state, usage.vcpus) == ("stopped", 2)
