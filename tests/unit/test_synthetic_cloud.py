"""The synthetic cloud behind `cloudledger ops generate`: deterministic for a
seed, in time order, spread over the simulated period, and every stream
contiguous (no aggregate skips or repeats a version)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.instance import Instance
from ops.synthetic_cloud import SyntheticCloud

START = datetime(2026, 1, 1, tzinfo=UTC)


def _timeline(seed: int, events: int = 4000, days: float = 90) -> list[Any]:
    cloud = SyntheticCloud(
        seed, projects=10, hosts=3, start=START, gap=timedelta(days=days) / events
    )
    while len(cloud.timeline) < events:
        cloud.step()
    return cloud.timeline


def _stored_shape(event: Any) -> tuple[Any, ...]:
    return (type(event), event.originator_id, event.originator_version, vars(event))


def test_the_same_seed_makes_the_same_history() -> None:
    assert [_stored_shape(e) for e in _timeline(3)] == [_stored_shape(e) for e in _timeline(3)]


def test_another_seed_makes_another_history() -> None:
    first, other = _timeline(3), _timeline(4)
    assert {e.originator_id for e in first}.isdisjoint({e.originator_id for e in other})


def test_events_are_in_time_order_and_spread_over_the_period() -> None:
    timeline = _timeline(5, days=90)
    times = [e.timestamp for e in timeline]
    assert times == sorted(times)
    assert times[0] == START
    assert timedelta(days=85) < times[-1] - START < timedelta(days=95)
    months = Counter(t.month for t in times)
    assert set(months) >= {1, 2, 3}, months


def test_a_spawn_is_launched_at_its_simulated_time() -> None:
    spawned = [e for e in _timeline(6) if isinstance(e, Instance.Spawned)]
    assert spawned
    assert all(e.launched_at == e.timestamp for e in spawned)


def test_every_stream_counts_up_from_one_without_gaps() -> None:
    versions: dict[Any, list[int]] = {}
    for event in _timeline(7):
        versions.setdefault(event.originator_id, []).append(event.originator_version)
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())


def test_it_boots_stops_resizes_reboots_deletes_and_uploads() -> None:
    kinds = Counter(type(e).__qualname__ for e in _timeline(8, events=8000))
    for kind in (
        "Instance.Requested", "Instance.Stopped", "Instance.Started", "Resizing.ResizeConfirmed",
        "Instance.PowerActionDone", "Instance.Deleted", "Image.Uploaded", "Image.Deleted",
        "Quota.Reserved", "Quota.Released", "Quota.Adjusted", "ComputeHost.Claimed",
        "ComputeHost.Released", "ComputeHost.ClaimRenamed", "User.RoleGranted",
    ):  # fmt: skip
        assert kinds[kind] > 0, (kind, kinds)


def test_dense_events_still_span_the_period() -> None:
    """Steps within an operation take seconds of the period, not more of it."""
    times = [e.timestamp for e in _timeline(9, events=4000, days=0.1)]
    assert timedelta(days=0.09) < times[-1] - START < timedelta(days=0.11)


# Stored bytes of a seeded history, printed as one hash, in a fresh process.
_HASH_OF_HISTORY = """
import hashlib
from datetime import UTC, datetime, timedelta
from commands.app import CloudApp
from ops.synthetic_cloud import SyntheticCloud
mapper = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper
start = datetime(2026, 1, 1, tzinfo=UTC)
cloud = SyntheticCloud(3, projects=10, hosts=3, start=start, gap=timedelta(minutes=5))
while len(cloud.timeline) < 3000:
    cloud.step()
h = hashlib.sha256()
for event in cloud.timeline:
    stored = mapper.to_stored_event(event)
    h.update(stored.topic.encode() + stored.state)
print(h.hexdigest())
"""


def test_the_same_seed_stores_the_same_bytes_in_any_process() -> None:
    """Byte for byte, also where string hashing (and so set order) differs."""
    digests = {
        subprocess.run(
            [sys.executable, "-c", _HASH_OF_HISTORY],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1, digests
