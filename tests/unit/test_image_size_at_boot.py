"""A size bomb is refused at boot, before anything reaches a host (issue 19):
an image whose virtual size (what its header says the disk is) exceeds the
flavor's root disk gets Nova's FlavorDiskSmallerThanImage, and nothing is
appended. A flavor with a root disk of 0 takes any image, as in Nova."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_images import qcow2

from commands.app import CloudApp
from commands.catalog import CreateFlavor
from commands.identity import CreateProject
from commands.image_files import DirectoryImageStore
from commands.images import CreateImage
from commands.servers import BootServer
from commands.services import Services
from domain.errors import InvalidInput
from domain.values import SYSTEM, Actor

GIB = 1 << 30


class FakeHasher:
    def hash(self, password: str) -> str:
        return password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == password


@pytest.fixture
def cloud(tmp_path: Path) -> tuple[Services, Actor]:
    services = Services(
        CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
        FakeHasher(),
        DirectoryImageStore(tmp_path),
    )
    project = services.create_project(CreateProject("alpha"), SYSTEM).id.hex
    services.create_flavor(CreateFlavor("1", "m1.tiny", 1, 512, 1), SYSTEM)
    services.create_flavor(CreateFlavor("0", "m1.nodisk", 1, 512, 0), SYSTEM)
    services.update_quota(project, {"instances": 100}, SYSTEM)
    return services, Actor("alice", project, ("member",), "req-1")


def _image(services: Services, actor: Actor, virtual_size: int) -> str:
    image_id = str(services.create_image(CreateImage("bomb"), actor).id)
    services.upload_image(image_id, [qcow2(virtual_size=virtual_size)], actor)
    return image_id


def test_an_image_larger_than_the_root_disk_is_refused_with_novas_message(
    cloud: tuple[Services, Actor],
) -> None:
    services, actor = cloud
    bomb = _image(services, actor, 1 << 50)  # a petabyte disk in 64 KiB
    before = services.app.recorder.max_notification_id()

    with pytest.raises(InvalidInput) as refused:
        services.boot_server(BootServer("vm", "1", bomb, "none"), actor)

    assert refused.value.message == (
        "Flavor's disk is too small for requested image. "
        f"Flavor disk is {GIB} bytes, image is {1 << 50} bytes."
    )
    assert services.app.recorder.max_notification_id() == before


def test_an_image_that_fits_boots_and_a_diskless_flavor_takes_any(
    cloud: tuple[Services, Actor],
) -> None:
    services, actor = cloud
    fits = _image(services, actor, GIB)
    bomb = _image(services, actor, 1 << 50)

    assert services.boot_server(BootServer("vm", "1", fits, "none"), actor).id
    assert services.boot_server(BootServer("vm", "0", bomb, "none"), actor).id
