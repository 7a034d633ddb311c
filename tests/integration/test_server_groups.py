"""Server group policies hold when two schedulers place members at once:
the group is saved with every placement, so the loser decides again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from helpers import Cloud, build_cloud, raced_app

from commands import compute
from commands.identity import CreateProject
from commands.servers import BootServer
from domain.errors import InvalidInput
from domain.host import ComputeHost
from domain.server_group import ServerGroup
from domain.values import SYSTEM, Actor, TaskState


@pytest.fixture
def cloud(database_url: str, tmp_path: Path) -> Iterator[Cloud]:
    cloud = build_cloud(database_url, tmp_path / "images")
    cloud.register_host("h1")
    cloud.register_host("h2")
    yield cloud
    cloud.app.close()


def _members(cloud: Cloud, policy: str, count: int) -> tuple[str, list[UUID]]:
    group = cloud.services.create_group("g", policy, cloud.member).id.hex
    ids = [
        cloud.services.boot_server(
            BootServer(f"vm{n}", "1", cloud.image_id, "none", group=group), cloud.member
        ).id
        for n in range(count)
    ]
    return group, ids


def _place_losing_a_race(
    cloud: Cloud, host: str, instance: UUID, rival_host: str, rival: UUID
) -> list[UUID]:
    """Place ``instance`` on ``host`` while a rival scheduler places
    ``rival`` on ``rival_host`` between our load and our save."""

    def rival_scheduler() -> None:
        assert compute.place_on_host(cloud.app, rival_host, [rival]) == [rival]

    raced = raced_app(cloud.database_url, ComputeHost, rival_scheduler)
    try:
        return compute.place_on_host(raced, host, [instance])
    finally:
        raced.close()


def test_anti_affinity_members_never_share_a_host_under_a_race(cloud: Cloud) -> None:
    _, (first, second) = _members(cloud, "anti-affinity", 2)
    assert _place_losing_a_race(cloud, "h1", second, "h1", first) == []
    assert cloud.instance(second).task_state == TaskState.SCHEDULING  # still waiting
    assert compute.place_on_host(cloud.app, "h2", [second]) == [second]
    assert {cloud.instance(i).host for i in (first, second)} == {"h1", "h2"}


def test_affinity_holds_when_only_the_group_saw_the_race(cloud: Cloud) -> None:
    """The rival claims on the other host: only the group's version tells."""
    group, (first, second) = _members(cloud, "affinity", 2)
    assert _place_losing_a_race(cloud, "h1", second, "h2", first) == []
    assert compute.place_on_host(cloud.app, "h2", [second]) == [second]
    stored = cloud.app.repository.get(UUID(group))
    assert isinstance(stored, ServerGroup)
    assert stored.hosts == {str(first): "h2", str(second): "h2"}


def test_a_deleted_member_no_longer_keeps_others_away(cloud: Cloud) -> None:
    _, (first, second) = _members(cloud, "anti-affinity", 2)
    assert compute.place_on_host(cloud.app, "h1", [first]) == [first]
    assert compute.place_on_host(cloud.app, "h1", [second]) == []
    cloud.action("delete", first)
    compute.finish_delete(cloud.app, first)
    assert compute.place_on_host(cloud.app, "h1", [second]) == [second]


def test_booting_into_another_projects_group_is_refused(cloud: Cloud) -> None:
    group, _ = _members(cloud, "affinity", 0)
    other = cloud.services.create_project(CreateProject("other"), SYSTEM).id.hex
    stranger = Actor("u9", other, ("member",), "req-9")
    with pytest.raises(InvalidInput, match="server group"):
        cloud.services.boot_server(
            BootServer("x", "1", cloud.image_id, "none", group=group), stranger
        )
