"""Unit tests for the Services facade on the in-memory event store."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hostile_images import qcow2

from commands.app import CloudApp
from commands.catalog import CreateFlavor, RegisterHost
from commands.identity import CreateProject, CreateUser
from commands.image_files import DirectoryImageStore
from commands.images import CreateImage
from commands.servers import BootServer
from commands.services import Services
from domain.errors import InvalidTransition, QuotaExceeded
from domain.instance import Instance
from domain.quota import Quota
from domain.values import SYSTEM, Actor, TaskState


class FakeHasher:
    """Marks passwords instead of hashing them, so tests stay fast."""

    def hash(self, password: str) -> str:
        return "hashed:" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "hashed:" + password


def _services(tmp_path: Path) -> tuple[Services, Actor, str]:
    services = Services(
        CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
        FakeHasher(),
        DirectoryImageStore(tmp_path),
    )
    services.create_project(CreateProject("alpha"), SYSTEM)
    services.create_user(CreateUser("alice", "pw", "alpha"), SYSTEM)
    auth = services.authenticate("alice", "pw", "alpha")
    actor = Actor(auth.user_id, auth.project_id, auth.roles, "req-1")
    services.create_flavor(CreateFlavor("1", "m1.tiny", 1, 512, 1), SYSTEM)
    services.register_host(RegisterHost("compute-1", 16, 65536, 1000), SYSTEM)
    image_id = str(services.create_image(CreateImage("cirros"), actor).id)
    services.upload_image(image_id, [qcow2()], actor)
    return services, actor, image_id


def test_boot_through_services_reserves_quota(tmp_path: Path) -> None:
    services, actor, image_id = _services(tmp_path)
    receipt = services.boot_server(BootServer("vm", "1", image_id, "none"), actor)
    quota = services.app.repository.get(Quota.create_id(actor.project_id))
    assert str(receipt.id) in quota.allocations


def test_server_action_dispatches_by_name(tmp_path: Path) -> None:
    services, actor, image_id = _services(tmp_path)
    server = services.boot_server(BootServer("vm", "1", image_id, "none"), actor)
    with pytest.raises(InvalidTransition):
        services.server_action("stop", str(server.id), actor)
    services.server_action("delete", str(server.id), actor)
    instance = services.app.repository.get(server.id)
    assert isinstance(instance, Instance)
    assert instance.is_deleted


def test_update_quota_through_services(tmp_path: Path) -> None:
    services, actor, image_id = _services(tmp_path)
    services.update_quota(actor.project_id, {"instances": 0}, SYSTEM)
    with pytest.raises(QuotaExceeded):
        services.boot_server(BootServer("vm", "1", image_id, "none"), actor)


def test_concurrent_boots_never_exceed_the_quota(tmp_path: Path) -> None:
    services, actor, image_id = _services(tmp_path)
    services.update_quota(actor.project_id, {"instances": 5}, SYSTEM)

    def boot(n: int) -> str:
        try:
            services.boot_server(BootServer(f"vm-{n}", "1", image_id, "none"), actor)
        except QuotaExceeded:
            return "rejected"
        return "booted"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(boot, range(12)))
    assert outcomes.count("booted") == 5
    assert outcomes.count("rejected") == 7
    quota = services.app.repository.get(Quota.create_id(actor.project_id))
    assert quota.in_use["instances"] == 5


def test_delete_image_through_services(tmp_path: Path) -> None:
    services, actor, image_id = _services(tmp_path)
    services.delete_image(image_id, actor)
    assert list(tmp_path.iterdir()) == []


def test_deleted_unscheduled_server_frees_its_quota(tmp_path: Path) -> None:
    services, actor, image_id = _services(tmp_path)
    services.update_quota(actor.project_id, {"instances": 1}, SYSTEM)
    server = services.boot_server(BootServer("vm", "1", image_id, "none"), actor)
    services.server_action("delete", str(server.id), actor)
    again = services.boot_server(BootServer("vm", "1", image_id, "none"), actor)
    instance = services.app.repository.get(again.id)
    assert instance.task_state == TaskState.SCHEDULING
