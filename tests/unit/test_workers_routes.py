"""The route declarations: what each event owes, what completes it, and the
worker that runs it (workers/resources/, derived in workers/routes.py)."""

from __future__ import annotations

from typing import get_type_hints

import pytest

from domain.image import Image
from domain.instance import Instance
from domain.instance_events import LIFECYCLE_EVENTS
from domain.instance_volumes import InstanceVolumes
from domain.rebuild import Rebuilding
from domain.resize import Resizing
from domain.tags import Tagging
from domain.volume_attach import Attaching
from workers import routes
from workers.declarations import Via
from workers.jobs.entry import context_type, handler, resolve
from workers.resources.instance import SNAPSHOT
from workers.resources.volume import RESOURCE as VOLUME


def test_job_kinds_are_unique_across_every_resource() -> None:
    kinds = [r.kind for r in routes.ROUTES]
    assert len(kinds) == len(set(kinds))


def test_job_kinds_are_named_by_their_resource() -> None:
    for resource in routes.ROUTING.resources:
        for route in resource.routes:
            assert route.kind.startswith(f"{resource.name}."), route.kind


def test_every_route_has_a_job_and_a_role_whose_context_it_accepts() -> None:
    for route in routes.ROUTES:
        role = next(r for r in routes.ROLES if r.family == route.family)
        built = get_type_hints(resolve(role.build))["return"]
        needed = handler(route.kind).context
        assert issubclass(built, needed), f"{route.kind} needs {needed}, {role.name} builds {built}"


def test_every_family_a_route_names_has_a_role() -> None:
    assert {r.family for r in routes.ROUTES} <= {role.family for role in routes.ROLES}
    assert {r.family for r in routes.ROUTES} <= set(routes.FAMILIES)


def test_a_joined_role_joins_a_role_of_its_own_hosts_that_joins_none() -> None:
    # Its queue is served by that role's process on the same host (workers/bootstrap.py).
    joined = [r for r in routes.ROLES if r.joins is not None]
    assert [r.name for r in joined] == ["network"]
    for role in joined:
        (host,) = [r for r in routes.ROLES if r.family == role.joins]
        assert host.joins is None and host.per_host == role.per_host


def test_a_job_says_its_context_by_its_first_parameter() -> None:
    def job(context: int, ids: list[str]) -> None: ...

    assert context_type(job) is int

    def unannotated(context, ids):  # type: ignore[no-untyped-def]
        ...

    with pytest.raises(TypeError, match="annotate"):
        context_type(unannotated)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("spawn", "instance.spawn"),
        ("schedule", "instance.schedule"),
        ("delete", "instance.delete"),
        ("resize_finish", "instance.resize_finish"),
        ("drop_stash", "instance.drop_stash"),
        ("rebuild", "instance.rebuild"),
    ],
)
def test_a_kind_stored_before_kinds_were_named_by_resource_still_runs_its_job(
    old: str, new: str
) -> None:
    assert routes.route_of(old).kind == new
    assert handler(old) == handler(new)


def test_the_relay_follows_every_event_a_route_placement_or_link_names() -> None:
    # A confirm owes its job through the StashDropRequested saved with it;
    # tags need no host. The image's upload reaches its snapshot's instance.
    # Networking's are its own (tests/unit/test_network_routes.py). Volumes'
    # events, and the server's that make its link to them (and end its
    # detach), are followed too (workers/resources/volume.py).
    followed = {e for e in routes.event_types() if e.__module__ != "domain.instance_ports"}
    followed = {e for e in followed if not e.__module__.startswith(_NETWORK_MODULES)}
    assert followed == (set(LIFECYCLE_EVENTS) - {Resizing.ResizeConfirmed, Tagging.TagsSet}) | {
        Image.Uploaded
    } | set(VOLUME_EVENTS)


VOLUME_EVENTS = {
    *(r.owed_by for r in VOLUME.routes if isinstance(r.owed_by, type)),
    *(c for r in VOLUME.routes for c in r.completed_by if isinstance(c, type)),
    Attaching.AccessGranted,  # reaches the servers waiting on it
    InstanceVolumes.VolumeAttachRequested,  # makes the server's link
}


_NETWORK_MODULES = ("domain.port", "domain.router", "domain.security_group", "domain.subnet")
_RESIZE_HOPS = [
    "instance.resize_schedule",
    "instance.resize_migrate",
    "instance.resize_finish",
    "instance.revert_dest",
    "instance.revert_source",
]
_HOST_STEPS = [
    "instance.spawn",
    "instance.stop",
    "instance.start",
    "instance.power",
    "instance.rebuild",
    "instance.snapshot",
    "instance.snapshot_done",
]


_ENDING_DELETE = ["instance.schedule", *_HOST_STEPS, *_RESIZE_HOPS, "instance.delete"]
# A server's volume steps on its host end with it (workers/resources/volume.py).
_VOLUME_STEPS = ["volume.attach_to_server", "volume.boot_server", "volume.detach_from_server"]


@pytest.mark.parametrize(
    ("event", "kinds"),
    [
        (Instance.Scheduled, ["instance.schedule"]),
        (Instance.Spawned, ["instance.spawn", "network.boot_server", "volume.boot_server"]),
        (
            Instance.Failed,
            [
                "instance.schedule",
                *_HOST_STEPS,
                *_RESIZE_HOPS,
                "network.boot_server",
                *_VOLUME_STEPS,
            ],
        ),
        (
            Instance.DeleteRequested,
            [*_HOST_STEPS, *_RESIZE_HOPS, "instance.delete", "network.boot_server", *_VOLUME_STEPS],
        ),
        (
            Instance.Deleted,
            [*_ENDING_DELETE, "network.boot_server", *_VOLUME_STEPS],
        ),
        # The old disks are dropped even after the instance is deleted.
        (Resizing.StashDropped, ["instance.drop_stash"]),
        (Resizing.ResizeRefused, ["instance.resize_schedule"]),
        (Instance.SnapshotDone, ["instance.snapshot", "instance.snapshot_done"]),
        (Instance.PowerActionDone, ["instance.power"]),
        (Rebuilding.Rebuilt, ["instance.rebuild"]),
        (Instance.StopRequested, []),
        (Instance.Requested, []),
    ],
)
def test_an_event_completes_only_the_jobs_its_routes_name(event: type, kinds: list[str]) -> None:
    assert routes.kinds_completed_by(event) == kinds


def test_what_each_event_owes() -> None:
    owed = {e: [r.kind for r in routes.owed_by(e)] for e in LIFECYCLE_EVENTS}
    assert {e.__name__: k for e, k in owed.items() if k} == {
        "Requested": ["instance.schedule"],
        "Scheduled": ["instance.spawn"],
        "StopRequested": ["instance.stop"],
        "StartRequested": ["instance.start"],
        "PowerActionRequested": ["instance.power"],
        "SnapshotRequested": ["instance.snapshot"],
        "RebuildRequested": ["instance.rebuild"],
        "DeleteRequested": ["instance.delete"],
        "ResizeRequested": ["instance.resize_schedule"],
        "ResizeScheduled": ["instance.resize_migrate"],
        "ResizeMigrated": ["instance.resize_finish"],
        "RevertRequested": ["instance.revert_dest"],
        "RevertDestCleaned": ["instance.revert_source"],
        "StashDropRequested": ["instance.drop_stash"],
    }


def test_an_image_receiving_its_data_ends_the_upload_and_owes_the_snapshot_s_end() -> None:
    plan = routes.ROUTING.plan(Image.Uploaded)
    assert plan.completes == ()  # nothing of the image itself
    assert plan.completes_via == ((SNAPSHOT, "instance.snapshot"),)
    assert [r.kind for r in plan.owes_via] == ["instance.snapshot_done"]
    assert plan.reaches == (SNAPSHOT,)
    # The snapshot's request makes the link; its end, or the instance's, drops it.
    assert routes.ROUTING.plan(Instance.SnapshotRequested).makes == (SNAPSHOT,)
    for ended in (Instance.SnapshotDone, Instance.Failed, Instance.Deleted):
        assert SNAPSHOT in routes.ROUTING.plan(ended).drops
    done = routes.route_of("instance.snapshot_done")
    assert done.owed_by == Via(SNAPSHOT, Image.Uploaded)
    assert not done.family.per_host  # any worker records it, no host needed


def test_resize_hops_go_to_the_host_their_event_names() -> None:
    by_kind = {r.kind: r for r in routes.ROUTES}
    assert by_kind["instance.resize_finish"].host_field == "dest_host"
    assert by_kind["instance.revert_source"].host_field == "source_host"
    assert by_kind["instance.drop_stash"].host_field == "host"
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
