"""Unit tests for the block storage commands on the in-memory event store:
quota held race-free in the volume's own save, every id a tenant sends
checked as the thing itself, attach refusals that append nothing, boot from
volume and what a server's deletion does to its volumes."""

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from commands.app import CloudApp
from commands.catalog import CreateFlavor, RegisterHost, create_flavor, register_host, update_quota
from commands.compute import claim_host, finish_spawn
from commands.identity import CreateProject, create_project
from commands.server_actions import act_on_servers
from commands.servers import BootServer, boot_servers
from commands.services import Services
from commands.volume_actions import delete_volume, extend_volume, reset_volume_status
from commands.volume_attachments import attach_volume, detach_volume
from commands.volume_boot import BlockDevice
from commands.volume_snapshots import CreateSnapshot, create_snapshot
from commands.volume_types import CreateVolumeType, create_volume_type
from commands.volumes import CreateVolume, create_volume, create_volumes
from domain.errors import DomainError, InvalidInput, InvalidTransition, NotFound, QuotaExceeded
from domain.image import Image
from domain.instance import Instance
from domain.quota import Quota
from domain.values import SYSTEM, Actor
from domain.volume import Volume
from domain.volume_type import DEFAULT_TYPE
from domain.volume_values import AttachStatus, VolumeStatus


@dataclass
class World:
    app: CloudApp
    alice: Actor
    bob: Actor
    admin: Actor
    image_id: str


def _actor(app: CloudApp, name: str, role: str = "member") -> Actor:
    receipt = create_project(CreateProject(name), app, SYSTEM)
    return Actor(f"user-{name}", receipt.id.hex, (role,), f"req-{name}")


def _image(app: CloudApp, owner: Actor, visibility: str = "public") -> str:
    image = Image(
        owner=owner.project_id,
        name="cirros",
        disk_format="qcow2",
        container_format="bare",
        visibility=visibility,
        min_disk=0,
        min_ram=0,
        properties={"os_distro": "cirros"},
        actor=owner,
    )
    image.record_upload("md5", "sha512", "sha", 3 << 30, owner)  # 3 GiB: needs 3 GiB
    app.save(image)
    return str(image.id)


@pytest.fixture
def world() -> World:
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    admin = _actor(app, "admin", role="admin")
    # Room on its root disk for the 3 GiB image (a size bomb is refused at boot).
    create_flavor(CreateFlavor("1", "m1.small", 1, 512, 10), app, admin)
    register_host(RegisterHost("compute-1", 16, 65536, 1000), app, admin)
    return World(app, _actor(app, "alpha"), _actor(app, "beta"), admin, _image(app, admin))


def _max_id(app: CloudApp) -> int:
    return app.recorder.max_notification_id() or 0


def _get(world: World, kind: type, aggregate_id: UUID | str) -> object:
    found = world.app.repository.get(UUID(str(aggregate_id)))
    assert isinstance(found, kind)
    return found


def _volume(world: World, volume_id: UUID | str) -> Volume:
    found = _get(world, Volume, volume_id)
    assert isinstance(found, Volume)
    return found


def _quota(world: World, actor: Actor) -> Quota:
    found = _get(world, Quota, Quota.create_id(actor.project_id))
    assert isinstance(found, Quota)
    return found


def _new(world: World, actor: Actor, size: int = 1, **kwargs: object) -> UUID:
    return create_volume(CreateVolume(size, **kwargs), world.app, actor).id  # type: ignore[arg-type]


def _available(world: World, actor: Actor, size: int = 1) -> UUID:
    volume_id = _new(world, actor, size)
    volume = _volume(world, volume_id)
    volume.mark_available("storage", "127.0.0.1:3260", SYSTEM)
    world.app.save(volume)
    return volume_id


def _server(world: World, actor: Actor) -> UUID:
    (receipt,) = boot_servers([(BootServer("vm", "1", world.image_id, "none"), actor)], world.app)
    assert not isinstance(receipt, DomainError)
    assert claim_host(world.app, receipt.id, "compute-1")
    finish_spawn(world.app, receipt.id)
    return receipt.id


# --- create ------------------------------------------------------------------


def test_create_reserves_quota_and_requests_the_volume_in_one_save(world: World) -> None:
    before = _max_id(world.app)
    receipt = create_volume(CreateVolume(2, name="data"), world.app, world.alice)
    assert [t.rsplit(":", 1)[1] for _, t in receipt.events] == [
        "Quota.Reserved",
        "Volume.Requested",
    ]
    assert _max_id(world.app) == before + 2
    volume = _volume(world, receipt.id)
    assert (volume.status, volume.size, volume.name) == (VolumeStatus.CREATING, 2, "data")
    assert volume.volume_type_name == DEFAULT_TYPE.name
    assert _quota(world, world.alice).allocations[str(receipt.id)] == {
        "volumes": 1,
        "gigabytes": 2,
        "volumes___DEFAULT__": 1,
        "gigabytes___DEFAULT__": 2,
    }


def test_over_the_gigabytes_quota_is_refused_and_appends_nothing(world: World) -> None:
    update_quota(world.alice.project_id, {"gigabytes": 3}, world.app, world.admin)
    _new(world, world.alice, 2)
    before = _max_id(world.app)
    with pytest.raises(QuotaExceeded, match="gigabytes"):
        _new(world, world.alice, 2)
    assert _max_id(world.app) == before


def test_a_batch_of_creates_takes_exactly_what_the_quota_allows(world: World) -> None:
    update_quota(world.alice.project_id, {"gigabytes": 10}, world.app, world.admin)
    requests = [(CreateVolume(1), world.alice) for _ in range(15)]
    outcomes = create_volumes(requests, world.app)
    accepted = [o for o in outcomes if not isinstance(o, DomainError)]
    refused = [o for o in outcomes if isinstance(o, QuotaExceeded)]
    assert (len(accepted), len(refused)) == (10, 5)
    assert _quota(world, world.alice).in_use["gigabytes"] == 10


def test_a_project_made_before_volumes_has_the_default_volume_limits(world: World) -> None:
    old = Quota(project_id="old-project", limits={"instances": 10}, actor=SYSTEM)
    world.app.save(old)
    actor = Actor("u", "old-project", ("member",), "r")
    for _ in range(10):
        _new(world, actor)
    with pytest.raises(QuotaExceeded, match="volumes"):
        _new(world, actor)


def test_per_volume_gigabytes_caps_one_volumes_size(world: World) -> None:
    update_quota(world.alice.project_id, {"per_volume_gigabytes": 5}, world.app, world.admin)
    with pytest.raises(QuotaExceeded, match="per_volume_gigabytes"):
        _new(world, world.alice, 6)
    _new(world, world.alice, 5)


@pytest.mark.parametrize("size", [0, -1, None])
def test_a_blank_volume_needs_a_size_of_at_least_one(world: World, size: int | None) -> None:
    with pytest.raises(InvalidInput):
        create_volume(CreateVolume(size), world.app, world.alice)


def test_an_unknown_zone_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput, match="zone"):
        _new(world, world.alice, availability_zone="elsewhere")


def test_another_projects_source_volume_is_not_found_like_an_unknown_one(world: World) -> None:
    theirs = _available(world, world.bob)
    for source in (str(theirs), str(uuid4()), "not-a-uuid"):
        with pytest.raises(NotFound):
            _new(world, world.alice, source_volid=source)


def test_another_projects_snapshot_is_not_found(world: World) -> None:
    theirs = _available(world, world.bob)
    snapshot = create_snapshot(CreateSnapshot(str(theirs)), world.app, world.bob).id
    with pytest.raises(NotFound):
        _new(world, world.alice, snapshot_id=str(snapshot))


def test_a_private_image_of_another_project_is_refused(world: World) -> None:
    private = _image(world.app, world.bob, visibility="private")
    with pytest.raises(InvalidInput, match="image"):
        _new(world, world.alice, 3, image_id=private)


def test_a_volume_from_an_image_is_bootable_and_at_least_the_images_size(world: World) -> None:
    with pytest.raises(InvalidInput, match="smaller"):
        _new(world, world.alice, 2, image_id=world.image_id)
    volume = _volume(world, _new(world, world.alice, 3, image_id=world.image_id))
    assert volume.bootable
    assert volume.source_kind == "image"
    assert volume.image_metadata["image_id"] == world.image_id
    assert volume.image_metadata["os_distro"] == "cirros"


def test_a_clone_takes_its_sources_size_and_type(world: World) -> None:
    source = _available(world, world.alice, 3)
    clone = _volume(
        world,
        create_volume(CreateVolume(None, source_volid=str(source)), world.app, world.alice).id,
    )
    assert (clone.size, clone.source_kind, clone.source_id) == (3, "volume", str(source))
    with pytest.raises(InvalidInput, match="smaller"):
        _new(world, world.alice, 2, source_volid=str(source))


def test_a_volume_from_a_snapshot_needs_it_available(world: World) -> None:
    source = _available(world, world.alice, 2)
    snapshot_id = create_snapshot(CreateSnapshot(str(source)), world.app, world.alice).id
    with pytest.raises(InvalidInput, match="available"):
        _new(world, world.alice, None, snapshot_id=str(snapshot_id))


def test_a_private_type_is_an_admins(world: World) -> None:
    create_volume_type(CreateVolumeType("secret", is_public=False), world.app, world.admin)
    with pytest.raises(NotFound):
        _new(world, world.alice, volume_type="secret")
    with pytest.raises(NotFound):
        _new(world, world.alice, volume_type="no-such-type")
    assert (
        _volume(world, _new(world, world.admin, volume_type="secret")).volume_type_name == "secret"
    )


def test_a_types_quota_is_enforced_per_type(world: World) -> None:
    create_volume_type(CreateVolumeType("fast"), world.app, world.admin)
    update_quota(world.alice.project_id, {"volumes_fast": 1}, world.app, world.admin)
    _new(world, world.alice, volume_type="fast")
    with pytest.raises(QuotaExceeded, match="volumes_fast"):
        _new(world, world.alice, volume_type="fast")
    _new(world, world.alice)  # the default type is not limited by it


# --- delete, extend, snapshots ----------------------------------------------------


def test_deleting_another_projects_volume_is_not_found(world: World) -> None:
    theirs = _available(world, world.bob)
    before = _max_id(world.app)
    with pytest.raises(NotFound):
        delete_volume(str(theirs), world.app, world.alice)
    assert _max_id(world.app) == before
    delete_volume(str(theirs), world.app, world.bob)
    assert _volume(world, theirs).status == VolumeStatus.DELETING


def test_extend_reserves_the_growth(world: World) -> None:
    update_quota(world.alice.project_id, {"gigabytes": 4}, world.app, world.admin)
    volume_id = _available(world, world.alice, 2)
    with pytest.raises(QuotaExceeded):
        extend_volume(str(volume_id), 5, world.app, world.alice)
    assert _volume(world, volume_id).status == VolumeStatus.AVAILABLE
    extend_volume(str(volume_id), 4, world.app, world.alice)
    assert _quota(world, world.alice).in_use["gigabytes"] == 4
    assert _volume(world, volume_id).status == VolumeStatus.EXTENDING


def test_a_snapshot_holds_one_snapshot_and_its_volumes_size(world: World) -> None:
    volume_id = _available(world, world.alice, 2)
    snapshot_id = create_snapshot(CreateSnapshot(str(volume_id), "s"), world.app, world.alice).id
    quota = _quota(world, world.alice)
    assert quota.allocations[str(snapshot_id)]["snapshots"] == 1
    assert quota.in_use["gigabytes"] == 4
    assert _volume(world, volume_id).snapshot_ids == [str(snapshot_id)]
    with pytest.raises(InvalidInput, match="dependent snapshots"):
        delete_volume(str(volume_id), world.app, world.alice)


def test_reset_status_takes_only_cinder_statuses(world: World) -> None:
    volume_id = _new(world, world.alice)
    with pytest.raises(InvalidInput):
        reset_volume_status(str(volume_id), "bogus", world.app, world.admin)
    reset_volume_status(str(volume_id), "available", world.app, world.admin)
    assert _volume(world, volume_id).status == VolumeStatus.AVAILABLE


# --- attach and detach -----------------------------------------------------


def test_attach_hands_out_vdc_then_vdd_and_changes_both_in_one_save(world: World) -> None:
    server = _server(world, world.alice)
    first, second = _available(world, world.alice), _available(world, world.alice)
    attached = attach_volume(str(server), str(first), False, world.app, world.alice)
    assert attached.device == "/dev/vdc"
    assert [t.rsplit(":", 1)[1] for _, t in attached.receipt.events] == [
        "InstanceVolumes.VolumeAttachRequested",
        "Attaching.AttachRequested",
    ]
    assert (
        attach_volume(str(server), str(second), True, world.app, world.alice).device == "/dev/vdd"
    )
    volume = _volume(world, first)
    assert volume.status == VolumeStatus.ATTACHING
    assert volume.attachment(attached.attachment_id)["host"] == "compute-1"


def test_attaching_an_in_use_volume_is_refused_and_appends_nothing(world: World) -> None:
    one, two = _server(world, world.alice), _server(world, world.alice)
    volume_id = _available(world, world.alice)
    attach_volume(str(one), str(volume_id), False, world.app, world.alice)
    before = _max_id(world.app)
    with pytest.raises(InvalidTransition):
        attach_volume(str(two), str(volume_id), False, world.app, world.alice)
    assert _max_id(world.app) == before
    server = _get(world, Instance, two)
    assert isinstance(server, Instance)
    assert server.volumes == {}


def test_attaching_an_errored_volume_is_refused(world: World) -> None:
    server = _server(world, world.alice)
    volume_id = _new(world, world.alice)
    volume = _volume(world, volume_id)
    volume.fail("broken", SYSTEM)
    world.app.save(volume)
    before = _max_id(world.app)
    with pytest.raises(InvalidTransition):
        attach_volume(str(server), str(volume_id), False, world.app, world.alice)
    assert _max_id(world.app) == before


def test_another_projects_volume_or_server_is_not_found(world: World) -> None:
    mine, theirs = _server(world, world.alice), _server(world, world.bob)
    my_volume, their_volume = _available(world, world.alice), _available(world, world.bob)
    with pytest.raises(NotFound):
        attach_volume(str(mine), str(their_volume), False, world.app, world.alice)
    with pytest.raises(NotFound):
        attach_volume(str(theirs), str(my_volume), False, world.app, world.alice)


def test_detach_needs_the_volume_attached_to_that_server(world: World) -> None:
    server = _server(world, world.alice)
    volume_id = _available(world, world.alice)
    with pytest.raises(NotFound):
        detach_volume(str(server), str(volume_id), world.app, world.alice)
    attached = attach_volume(str(server), str(volume_id), False, world.app, world.alice)
    with pytest.raises(InvalidTransition):  # still attaching
        detach_volume(str(server), str(volume_id), world.app, world.alice)
    volume = _volume(world, volume_id)
    volume.grant_access(attached.attachment_id, SYSTEM)
    instance = _get(world, Instance, server)
    assert isinstance(instance, Instance)
    instance.mark_volume_attached(str(volume_id), SYSTEM)
    volume.mark_attached(attached.attachment_id, datetime.now(UTC), SYSTEM)
    world.app.save(instance, volume)
    detach_volume(str(server), str(volume_id), world.app, world.alice)
    assert _volume(world, volume_id).status == VolumeStatus.DETACHING


# --- boot from volume --------------------------------------------------------------


def _boot_with(world: World, devices: tuple[BlockDevice, ...], image: str = "") -> UUID:
    cmd = BootServer("bfv", "1", image, "none", block_devices=devices)
    (outcome,) = boot_servers([(cmd, world.alice)], world.app)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome.id


def test_boot_from_an_existing_volume_maps_it_as_vda(world: World) -> None:
    volume_id = _available(world, world.alice)
    server = _boot_with(world, (BlockDevice("volume", str(volume_id), 0),))
    instance = _get(world, Instance, server)
    assert isinstance(instance, Instance)
    assert instance.image_id == ""
    assert instance.root_volume_id == str(volume_id)
    volume = _volume(world, volume_id)
    assert volume.status == VolumeStatus.ATTACHING
    (attachment,) = volume.attachments.values()
    assert attachment["device"] == "/dev/vda"


def test_boot_from_an_image_volume_makes_it_with_its_quota(world: World) -> None:
    server = _boot_with(world, (BlockDevice("image", world.image_id, 0, 3, True),))
    instance = _get(world, Instance, server)
    assert isinstance(instance, Instance)
    root = instance.root_volume_id
    assert root is not None
    volume = _volume(world, root)
    assert (volume.status, volume.size, volume.source_kind) == (VolumeStatus.CREATING, 3, "image")
    (attachment,) = volume.attachments.values()
    assert attachment["status"] == AttachStatus.RESERVED
    assert _quota(world, world.alice).in_use["gigabytes"] == 3
    assert instance.volumes[root]["delete_on_termination"] is True


def test_a_boot_refused_at_its_second_volume_leaves_nothing(world: World) -> None:
    services = Services(world.app, None, None)  # type: ignore[arg-type]
    in_use = _available(world, world.alice)
    attach_volume(str(_server(world, world.alice)), str(in_use), False, world.app, world.alice)
    before = _max_id(world.app)
    devices = (BlockDevice("image", world.image_id, 0, 3), BlockDevice("volume", str(in_use), 1))
    other = BootServer("ok", "1", world.image_id, "none")
    outcomes = services.boot_servers(
        [
            (BootServer("bfv", "1", "", "none", block_devices=devices), world.alice),
            (other, world.alice),
        ]
    )
    assert isinstance(outcomes[0], InvalidTransition)
    assert not isinstance(outcomes[1], BaseException)
    assert _quota(world, world.alice).in_use["gigabytes"] == 1  # the in-use volume's only
    assert _max_id(world.app) == before + 2  # the other boot: its quota and instance


def test_a_bad_mapping_is_a_400_whatever_it_names(world: World) -> None:
    theirs = _available(world, world.bob)
    for devices in (
        (BlockDevice("volume", str(theirs), 0),),
        (BlockDevice("volume", str(uuid4()), 0),),
        (BlockDevice("snapshot", str(uuid4()), 0),),
        (BlockDevice("image", world.image_id, 0),),  # no size
        (BlockDevice("tape", "", 0),),
    ):
        with pytest.raises(InvalidInput):
            _boot_with(world, devices)


def test_deleting_an_unscheduled_server_lets_its_volumes_go(world: World) -> None:
    keep, drop = _available(world, world.alice), _available(world, world.alice)
    server = _boot_with(
        world,
        (BlockDevice("volume", str(keep), 0), BlockDevice("volume", str(drop), 1, None, True)),
    )
    (outcome,) = act_on_servers([("delete", str(server), world.alice)], world.app)
    assert not isinstance(outcome, DomainError)
    for volume_id, delete_after in ((keep, False), (drop, True)):
        volume = _volume(world, volume_id)
        assert volume.status == VolumeStatus.DETACHING
        (attachment,) = volume.attachments.values()
        assert attachment["unplugged"] is True
        assert attachment["delete_after"] is delete_after


def test_a_root_volume_is_never_detached(world: World) -> None:
    volume_id = _available(world, world.alice)
    server = _boot_with(world, (BlockDevice("volume", str(volume_id), 0),))
    assert claim_host(world.app, server, "compute-1")
    volume = _volume(world, volume_id)
    (attachment_id,) = volume.attachments
    volume.grant_access(attachment_id, SYSTEM)
    volume.mark_attached(attachment_id, datetime.now(UTC), SYSTEM)
    instance = _get(world, Instance, server)
    assert isinstance(instance, Instance)
    instance.mark_volume_attached(str(volume_id), SYSTEM)
    world.app.save(volume, instance)
    finish_spawn(world.app, server)
    with pytest.raises(InvalidInput, match="root"):
        detach_volume(str(server), str(volume_id), world.app, world.alice)


def test_attach_is_refused_while_the_server_is_building(world: World) -> None:
    (receipt,) = boot_servers(
        [(BootServer("vm", "1", world.image_id, "none"), world.alice)], world.app
    )
    assert not isinstance(receipt, DomainError)
    volume_id = _available(world, world.alice)
    before = _max_id(world.app)
    with pytest.raises(InvalidTransition):
        attach_volume(str(receipt.id), str(volume_id), False, world.app, world.alice)
    assert _max_id(world.app) == before
