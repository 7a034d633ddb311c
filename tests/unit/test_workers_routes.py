"""The route declarations: what each event owes, and what completes it."""

from __future__ import annotations

import pytest

from domain.instance import Instance
from domain.instance_events import LIFECYCLE_EVENTS
from domain.rebuild import Rebuilding
from domain.resize import Resizing
from domain.tags import Tagging
from workers import routes
from workers.jobs.entry import HANDLERS


def test_every_route_has_a_job_handler_on_a_worker_of_its_family() -> None:
    assert {r.kind for r in routes.ROUTES} == set(HANDLERS)
    assert {r.family for r in routes.ROUTES} <= set(routes.FAMILIES)


def test_the_relay_follows_every_event_a_route_or_placement_names() -> None:
    # A confirm owes its job through the StashDropRequested saved with it;
    # tags need no host.
    assert set(routes.event_types()) == set(LIFECYCLE_EVENTS) - {
        Resizing.ResizeConfirmed,
        Tagging.TagsSet,
    }


_RESIZE_HOPS = [
    "resize_schedule",
    "resize_migrate",
    "resize_finish",
    "revert_dest",
    "revert_source",
]


@pytest.mark.parametrize(
    ("event", "kinds"),
    [
        (Instance.Scheduled, ["schedule"]),
        (Instance.Spawned, ["spawn"]),
        (
            Instance.Failed,
            ["schedule", "spawn", "stop", "start", "power", "snapshot", "rebuild", *_RESIZE_HOPS],
        ),
        (
            Instance.DeleteRequested,
            ["spawn", "stop", "start", "power", "snapshot", "rebuild", *_RESIZE_HOPS, "delete"],
        ),
        (
            Instance.Deleted,
            [
                "schedule",
                "spawn",
                "stop",
                "start",
                "power",
                "snapshot",
                "rebuild",
                *_RESIZE_HOPS,
                "delete",
            ],
        ),
        # The old disks are dropped even after the instance is deleted.
        (Resizing.StashDropped, ["drop_stash"]),
        (Resizing.ResizeRefused, ["resize_schedule"]),
        (Instance.SnapshotDone, ["snapshot"]),
        (Instance.PowerActionDone, ["power"]),
        (Rebuilding.Rebuilt, ["rebuild"]),
        (Instance.StopRequested, []),
        (Instance.Requested, []),
    ],
)
def test_an_event_completes_only_the_jobs_its_routes_name(event: type, kinds: list[str]) -> None:
    assert routes.kinds_completed_by(event) == kinds


def test_what_each_event_owes() -> None:
    owed = {e: [r.kind for r in routes.owed_by(e)] for e in LIFECYCLE_EVENTS}
    assert {e.__name__: k for e, k in owed.items() if k} == {
        "Requested": ["schedule"],
        "Scheduled": ["spawn"],
        "StopRequested": ["stop"],
        "StartRequested": ["start"],
        "PowerActionRequested": ["power"],
        "SnapshotRequested": ["snapshot"],
        "RebuildRequested": ["rebuild"],
        "DeleteRequested": ["delete"],
        "ResizeRequested": ["resize_schedule"],
        "ResizeScheduled": ["resize_migrate"],
        "ResizeMigrated": ["resize_finish"],
        "RevertRequested": ["revert_dest"],
        "RevertDestCleaned": ["revert_source"],
        "StashDropRequested": ["drop_stash"],
    }


def test_resize_hops_go_to_the_host_their_event_names() -> None:
    by_kind = {r.kind: r for r in routes.ROUTES}
    assert by_kind["resize_finish"].host_field == "dest_host"
    assert by_kind["revert_source"].host_field == "source_host"
    assert by_kind["drop_stash"].host_field == "host"
    # The others follow the instance's placement, which the resize moves.
    assert not routes.needs_placement(Resizing.ResizeMigrated)
    assert routes.needs_placement(Resizing.ResizeScheduled)


def test_per_host_queues_are_named_in_one_place() -> None:
    assert routes.COMPUTE.queue("compute-7") == "compute.compute-7"
    assert routes.SCHEDULER.queue() == "scheduler"
    assert routes.COMPUTE.family_of("compute.compute-7")
    assert not routes.SCHEDULER.family_of("compute.compute-7")
    with pytest.raises(ValueError, match="per host"):
        routes.COMPUTE.queue()
