"""A compute host's volume steps on the in-memory ledger with the fake
hypervisor: a volume the volume host has let in is plugged in as the
device the server was given and both sides record it; detach takes it out
(or, if the guest keeps it, leaves it attached); a server's domain gets its
volumes when defined; the CHAP secret is derived here, from the key."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import pytest

from commands import volume_host
from commands.app import CloudApp
from commands.catalog import CreateFlavor, RegisterHost, create_flavor, register_host
from commands.compute import claim_host, finish_spawn
from commands.identity import CreateProject, create_project
from commands.servers import BootServer, boot_servers
from commands.volume_attachments import attach_volume, detach_volume
from commands.volumes import CreateVolume, create_volume
from domain.errors import DomainError
from domain.image import Image
from domain.instance import Instance
from domain.values import SYSTEM, Actor
from workers.drivers.chap import chap_for
from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.fake_hypervisor import FakeHypervisor
from workers.drivers.hypervisor import DomainSpec
from workers.jobs import volume_compute as jobs
from workers.jobs import volume_disks
from workers.jobs.domain_spec import domain_name

KEY = bytes(range(32))
STORAGE = volume_host.host_actor("volume")


@dataclass
class World:
    app: CloudApp
    hypervisor: FakeHypervisor
    context: jobs.ComputeVolumes
    alice: Actor
    server: UUID


@pytest.fixture
def world() -> World:
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    alice = Actor(
        "alice", create_project(CreateProject("alpha"), app, SYSTEM).id.hex, ("member",), "r"
    )
    create_flavor(CreateFlavor("1", "m1.tiny", 1, 512, 1), app, SYSTEM)
    register_host(RegisterHost("compute-1", 16, 65536, 1000), app, SYSTEM)
    image = Image(
        owner=alice.project_id, name="img", disk_format="raw", container_format="bare",
        visibility="private", min_disk=0, min_ram=0, properties={}, actor=alice,
    )  # fmt: skip
    image.record_upload("md5", "sha512", "sha", 4096, alice)
    app.save(image)
    (receipt,) = boot_servers([(BootServer("vm", "1", str(image.id), "none"), alice)], app)
    assert not isinstance(receipt, DomainError)
    assert claim_host(app, receipt.id, "compute-1")
    finish_spawn(app, receipt.id)
    hypervisor = FakeHypervisor()
    hypervisor.ensure_running(DomainSpec(domain_name(receipt.id), str(receipt.id), 1, 512, ()))
    context = jobs.ComputeVolumes(app, "compute-1", hypervisor, KEY)
    return World(app, hypervisor, context, alice, receipt.id)


def _attached_by_api(world: World, granted: bool = True) -> tuple[str, str]:
    """A volume made and exported, attached by a user, let in by its host."""
    volume_id = create_volume(CreateVolume(1), world.app, world.alice).id
    volume_host.mark_available(world.app, volume_id, "storage-1", "127.0.0.1:3260", STORAGE)
    attached = attach_volume(str(world.server), str(volume_id), False, world.app, world.alice)
    if granted:
        volume_host.grant_access(world.app, volume_id, attached.attachment_id, STORAGE)
    return str(volume_id), attached.attachment_id


def _server(world: World) -> Instance:
    found = world.app.repository.get(world.server)
    assert isinstance(found, Instance)
    return found


def test_a_granted_volume_is_plugged_in_as_its_device(world: World) -> None:
    volume_id, attachment_id = _attached_by_api(world)
    assert jobs.attach_volumes(world.context, [world.server]) == {str(world.server): "done"}
    (plugged,) = world.hypervisor.attached_volumes(domain_name(world.server))
    assert (plugged.attachment_id, plugged.target) == (attachment_id, "vdc")
    volume = volume_host.load_volume(world.app, volume_id)
    assert volume.status == "in-use"
    assert _server(world).volumes[volume_id]["status"] == "attached"


def test_the_disk_carries_the_secret_derived_here(world: World) -> None:
    volume_id, attachment_id = _attached_by_api(world)
    disk = volume_disks.volume_disk(world.app, KEY, volume_id, attachment_id, "/dev/vdc")
    assert disk.chap_secret == chap_for(KEY, volume_id).secret
    assert disk.chap_secret not in repr(disk)
    assert (disk.address.portal.host, disk.address.portal.port) == ("127.0.0.1", 3260)


def test_a_volume_not_let_in_yet_waits(world: World) -> None:
    volume_id, _ = _attached_by_api(world, granted=False)
    jobs.attach_volumes(world.context, [world.server])
    assert world.hypervisor.attached_volumes(domain_name(world.server)) == []
    assert volume_host.load_volume(world.app, volume_id).status == "attaching"


def test_a_refused_attach_is_recorded_on_both_sides(world: World) -> None:
    volume_id, _ = _attached_by_api(world)
    world.hypervisor.fail_next(PermanentDriverError("Authentication failure"))
    jobs.attach_volumes(world.context, [world.server])
    assert volume_host.load_volume(world.app, volume_id).status == "available"
    assert volume_id not in _server(world).volumes


def test_a_transient_failure_is_retried(world: World) -> None:
    volume_id, _ = _attached_by_api(world)
    world.hypervisor.fail_next(TransientDriverError("target unreachable"))
    with pytest.raises(jobs.RetryLater):
        jobs.attach_volumes(world.context, [world.server])
    assert volume_host.load_volume(world.app, volume_id).status == "attaching"
    jobs.attach_volumes(world.context, [world.server])
    assert volume_host.load_volume(world.app, volume_id).status == "in-use"


def test_detach_takes_it_out_and_marks_it_unplugged(world: World) -> None:
    volume_id, attachment_id = _attached_by_api(world)
    jobs.attach_volumes(world.context, [world.server])
    detach_volume(str(world.server), volume_id, world.app, world.alice)
    assert jobs.detach_volumes(world.context, [world.server]) == {str(world.server): "done"}
    assert world.hypervisor.attached_volumes(domain_name(world.server)) == []
    volume = volume_host.load_volume(world.app, volume_id)
    assert volume.attachment(attachment_id)["unplugged"] is True
    assert volume.status == "detaching"  # until the volume host drops the ACL


def test_a_guest_that_keeps_the_disk_leaves_it_attached(world: World) -> None:
    volume_id, _ = _attached_by_api(world)
    jobs.attach_volumes(world.context, [world.server])
    detach_volume(str(world.server), volume_id, world.app, world.alice)
    world.hypervisor.guests_release_disks = False
    jobs.detach_volumes(world.context, [world.server])
    assert volume_host.load_volume(world.app, volume_id).status == "in-use"
    assert _server(world).volumes[volume_id]["status"] == "attached"


def test_a_servers_domain_is_given_its_attached_volumes(world: World) -> None:
    first, _ = _attached_by_api(world)
    _attached_by_api(world, granted=False)
    jobs.attach_volumes(world.context, [world.server])
    disks = volume_disks.disks_of(world.app, KEY, _server(world))
    assert [(d.volume_id, d.target) for d in disks] == [(first, "vdc")]
    assert not volume_disks.boot_volumes_ready(world.app, _server(world))  # the second waits


def test_another_hosts_servers_are_not_touched(world: World) -> None:
    _attached_by_api(world)
    elsewhere = jobs.ComputeVolumes(world.app, "compute-2", world.hypervisor, KEY)
    assert jobs.attach_volumes(elsewhere, [world.server]) == {str(world.server): "skipped"}
