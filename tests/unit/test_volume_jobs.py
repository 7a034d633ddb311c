"""The volume worker's jobs on the in-memory ledger, with the fake iSCSI
target and real (sparse) files in a temporary folder: a volume is made and
exported with its CHAP account, attachments are let in and out, it grows,
is snapshotted and cloned, and is zeroed and removed; each converges when
run again, and a failure is recorded with a short reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from commands import volume_host
from commands.app import CloudApp
from commands.catalog import CreateFlavor, RegisterHost, create_flavor, register_host
from commands.compute import claim_host, finish_spawn
from commands.identity import CreateProject, create_project
from commands.servers import BootServer, boot_servers
from commands.volume_actions import delete_volume, extend_volume
from commands.volume_attachments import attach_volume, detach_volume
from commands.volume_boot import BlockDevice
from commands.volume_snapshots import CreateSnapshot, create_snapshot, delete_snapshot
from commands.volumes import CreateVolume, create_volume
from domain.errors import DomainError
from domain.image import Image
from domain.quota import Quota
from domain.values import SYSTEM, Actor
from domain.volume_values import VolumeStatus
from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.fake_iscsi import FakeIscsiTarget
from workers.drivers.iscsi import ExportInUse, attachment_initiator_iqn
from workers.drivers.runner import SubprocessRunner
from workers.drivers.volume_files import VolumeFiles
from workers.jobs import volume as jobs
from workers.jobs import volume_reconcile as jobs_reconcile
from workers.jobs.volume_context import VolumeContext

KEY = bytes(range(32))
HOST = volume_host.host_actor("compute")


@dataclass
class World:
    app: CloudApp
    context: VolumeContext
    target: FakeIscsiTarget
    alice: Actor
    bob: Actor
    image_id: str


def _actor(app: CloudApp, name: str) -> Actor:
    return Actor(
        f"user-{name}", create_project(CreateProject(name), app, SYSTEM).id.hex, ("member",), "r"
    )


@pytest.fixture
def world(tmp_path: Path) -> World:
    app = CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    target = FakeIscsiTarget()
    context = VolumeContext(
        app=app,
        host="storage-1",
        target=target,
        files=VolumeFiles(tmp_path / "volumes", SubprocessRunner()),
        chap_key=KEY,
        scratch=tmp_path / "scratch",
    )
    alice, bob = _actor(app, "alpha"), _actor(app, "beta")
    create_flavor(CreateFlavor("1", "m1.tiny", 1, 512, 1), app, SYSTEM)
    register_host(RegisterHost("compute-1", 16, 65536, 1000), app, SYSTEM)
    image = Image(
        owner=alice.project_id, name="img", disk_format="raw", container_format="bare",
        visibility="private", min_disk=0, min_ram=0, properties={}, actor=alice,
    )  # fmt: skip
    image.record_upload("md5", "sha512", "sha", 4096, alice)
    app.save(image)
    return World(app, context, target, alice, bob, str(image.id))


def _volume(world: World, actor: Actor | None = None, **kwargs: object) -> UUID:
    cmd = CreateVolume(kwargs.pop("size", 1), **kwargs)  # type: ignore[arg-type]
    return create_volume(cmd, world.app, actor or world.alice).id


def _made(world: World, actor: Actor | None = None, **kwargs: object) -> UUID:
    volume_id = _volume(world, actor, **kwargs)
    assert jobs.create_volumes(world.context, [volume_id]) == {str(volume_id): "done"}
    return volume_id


def _status(world: World, volume_id: UUID) -> str:
    return str(volume_host.load_volume(world.app, volume_id).status)


def test_create_makes_a_sparse_file_and_exports_it_with_chap(world: World) -> None:
    volume_id = _made(world, size=2)
    volume = volume_host.load_volume(world.app, volume_id)
    assert (volume.status, volume.host, volume.portal) == (
        "available",
        "storage-1",
        "127.0.0.1:3260",
    )
    path = world.context.files.volume_path(str(volume_id))
    assert path.stat().st_size == 2 << 30
    assert path.stat().st_blocks == 0  # sparse: nothing written
    (export,) = world.target.list_exports()
    chap = world.context.chap(volume_id)
    assert (export.backing_file, export.chap_users, export.initiators) == (
        str(path),
        (chap.user,),
        (),
    )


def test_create_run_again_does_nothing_more(world: World) -> None:
    volume_id = _made(world)
    before = world.app.recorder.max_notification_id()
    assert jobs.create_volumes(world.context, [volume_id]) == {str(volume_id): "skipped"}
    assert world.app.recorder.max_notification_id() == before


def test_a_transient_failure_is_retried_a_permanent_one_recorded(world: World) -> None:
    volume_id = _volume(world)
    world.target.fail_next(TransientDriverError("tgtd away"))
    with pytest.raises(jobs.RetryLater):
        jobs.create_volumes(world.context, [volume_id])
    assert _status(world, volume_id) == "creating"
    world.target.fail_next(PermanentDriverError("/secret/path refused"))
    assert jobs.create_volumes(world.context, [volume_id]) == {str(volume_id): "error"}
    volume = volume_host.load_volume(world.app, volume_id)
    assert volume.status == "error"
    assert volume.fault == "creating the volume failed"  # no path, no tool output


def test_a_clone_and_a_snapshot_copy_the_bytes(world: World) -> None:
    source = _made(world)
    path = world.context.files.volume_path(str(source))
    with path.open("r+b") as file:
        file.write(b"marker")
    clone = _made(world, source_volid=str(source))
    with world.context.files.volume_path(str(clone)).open("rb") as file:
        assert file.read(6) == b"marker"
    snapshot_id = create_snapshot(CreateSnapshot(str(source)), world.app, world.alice).id
    assert jobs.create_snapshots(world.context, [snapshot_id]) == {str(snapshot_id): "done"}
    restored = _made(world, size=2, snapshot_id=str(snapshot_id))
    with world.context.files.volume_path(str(restored)).open("rb") as file:
        assert file.read(6) == b"marker"


def test_a_source_deleted_before_its_clone_is_made_fails_the_clone(world: World) -> None:
    source = _made(world)
    clone = _volume(world, source_volid=str(source))
    delete_volume(str(source), world.app, world.alice)
    jobs.delete_volumes(world.context, [source])
    assert jobs.create_volumes(world.context, [clone]) == {str(clone): "error"}
    assert _status(world, clone) == "error"


def test_a_volume_from_an_image_downloads_then_converts(world: World) -> None:
    def fetch(image_id: str, out: object) -> None:
        assert image_id == world.image_id
        out.write(b"\x01" * 4096)  # type: ignore[attr-defined]

    context = VolumeContext(**{**world.context.__dict__, "fetch_image": fetch})
    volume_id = _volume(world, image_id=world.image_id)
    assert jobs.create_volumes(context, [volume_id]) == {str(volume_id): "done"}
    with context.files.volume_path(str(volume_id)).open("rb") as file:
        assert file.read(4096) == b"\x01" * 4096
    assert list((context.scratch).glob("*")) == []


def test_an_image_no_longer_visible_to_the_requester_fails_the_volume(world: World) -> None:
    volume_id = _volume(world, image_id=world.image_id)
    image = world.app.repository.get(UUID(world.image_id))
    assert isinstance(image, Image)
    image.deactivate(SYSTEM)
    world.app.save(image)
    assert jobs.create_volumes(world.context, [volume_id]) == {str(volume_id): "error"}


def test_delete_removes_the_export_zeroes_the_file_and_gives_the_quota_back(world: World) -> None:
    volume_id = _made(world)
    delete_volume(str(volume_id), world.app, world.alice)
    assert jobs.delete_volumes(world.context, [volume_id]) == {str(volume_id): "done"}
    assert world.target.list_exports() == []
    assert not world.context.files.volume_path(str(volume_id)).exists()
    quota = world.app.repository.get(Quota.create_id(world.alice.project_id))
    assert isinstance(quota, Quota)
    assert quota.in_use["gigabytes"] == 0
    assert volume_host.load_volume(world.app, volume_id).is_deleted


def test_delete_waits_while_an_initiator_is_logged_in(world: World) -> None:
    volume_id = _made(world)
    delete_volume(str(volume_id), world.app, world.alice)
    initiator = attachment_initiator_iqn("5b7e0c1d-2a3f-4e5d-8c9b-0a1b2c3d4e5f")
    world.target.ensure_acl(str(volume_id), initiator)
    world.target.open_session(str(volume_id), initiator, world.context.chap(volume_id).secret)
    with pytest.raises(jobs.RetryLater) as raised:
        jobs.delete_volumes(world.context, [volume_id])
    assert isinstance(raised.value.__cause__, ExportInUse)
    assert world.context.files.volume_path(str(volume_id)).exists()
    assert _status(world, volume_id) == "deleting"


def test_extend_grows_the_file(world: World) -> None:
    volume_id = _made(world)
    extend_volume(str(volume_id), 3, world.app, world.alice)
    assert jobs.extend_volumes(world.context, [volume_id]) == {str(volume_id): "done"}
    assert world.context.files.volume_path(str(volume_id)).stat().st_size == 3 << 30
    assert volume_host.load_volume(world.app, volume_id).size == 3


def _server(world: World) -> UUID:
    (receipt,) = boot_servers(
        [(BootServer("vm", "1", world.image_id, "none"), world.alice)], world.app
    )
    assert not isinstance(receipt, DomainError)
    assert claim_host(world.app, receipt.id, "compute-1")
    finish_spawn(world.app, receipt.id)
    return receipt.id


def test_an_attachment_gets_its_own_acl_entry_and_loses_it_on_detach(world: World) -> None:
    server, volume_id = _server(world), _made(world)
    attached = attach_volume(str(server), str(volume_id), False, world.app, world.alice)
    initiator = attachment_initiator_iqn(attached.attachment_id)
    assert jobs.grant_attachments(world.context, [volume_id]) == {str(volume_id): "done"}
    (export,) = world.target.list_exports()
    assert export.initiators == (initiator,)
    assert jobs.grant_attachments(world.context, [volume_id]) == {str(volume_id): "skipped"}
    # The compute host plugs it in, later takes it out.
    app = world.app
    volume_host.finish_attach(app, volume_id, attached.attachment_id, datetime.now(UTC), HOST)
    assert _status(world, volume_id) == "in-use"
    detach_volume(str(server), str(volume_id), app, world.alice)
    assert jobs.revoke_attachments(world.context, [volume_id]) == {str(volume_id): "skipped"}
    volume_host.finish_unplug(app, volume_id, attached.attachment_id, HOST)
    assert jobs.revoke_attachments(world.context, [volume_id]) == {str(volume_id): "done"}
    (export,) = world.target.list_exports()
    assert export.initiators == ()
    assert _status(world, volume_id) == "available"


def test_a_volume_made_for_a_boot_lets_its_server_in_when_made(world: World) -> None:
    cmd = BootServer(
        "bfv", "1", "", "none", block_devices=(BlockDevice("image", world.image_id, 0, 1),)
    )
    (receipt,) = boot_servers([(cmd, world.alice)], world.app)
    assert not isinstance(receipt, DomainError)
    server = world.app.repository.get(receipt.id)
    (volume_id,) = server.volumes
    (mapping,) = server.volumes.values()

    def fetch(image_id: str, out: object) -> None:
        out.write(b"\x00" * 4096)  # type: ignore[attr-defined]

    context = VolumeContext(**{**world.context.__dict__, "fetch_image": fetch})
    assert jobs.create_volumes(context, [UUID(volume_id)]) == {volume_id: "done"}
    volume = volume_host.load_volume(world.app, volume_id)
    assert volume.status == VolumeStatus.ATTACHING
    assert volume.attachment(mapping["attachment_id"])["access"] is True
    (export,) = world.target.list_exports()
    assert export.initiators == (attachment_initiator_iqn(mapping["attachment_id"]),)
    # The compute host starts the guest on it: attached, on both sides, with its host.
    from commands.compute import finish_spawn

    assert claim_host(world.app, receipt.id, "compute-1")
    finish_spawn(world.app, receipt.id)
    volume = volume_host.load_volume(world.app, volume_id)
    assert volume.status == VolumeStatus.IN_USE
    assert volume.attachment(mapping["attachment_id"])["host"] == "compute-1"
    assert world.app.repository.get(receipt.id).volumes[volume_id]["status"] == "attached"


def test_a_detached_volume_of_a_deleted_server_goes_if_asked(world: World) -> None:
    server, volume_id = _server(world), _made(world)
    attached = attach_volume(str(server), str(volume_id), True, world.app, world.alice)
    jobs.grant_attachments(world.context, [volume_id])
    volume_host.finish_attach(world.app, volume_id, attached.attachment_id, datetime.now(UTC), HOST)
    volume = volume_host.load_volume(world.app, volume_id)
    volume.request_detach(attached.attachment_id, world.alice, any_state=True, delete_after=True)
    volume.mark_unplugged(attached.attachment_id, world.alice)
    world.app.save(volume)
    jobs.revoke_attachments(world.context, [volume_id])
    assert _status(world, volume_id) == "deleting"
    assert jobs.delete_volumes(world.context, [volume_id]) == {str(volume_id): "done"}


def test_a_snapshot_delete_removes_its_file_and_frees_its_volume(world: World) -> None:
    volume_id = _made(world)
    snapshot_id = create_snapshot(CreateSnapshot(str(volume_id)), world.app, world.alice).id
    jobs.create_snapshots(world.context, [snapshot_id])
    delete_snapshot(str(snapshot_id), world.app, world.alice)
    assert jobs.delete_snapshots(world.context, [snapshot_id]) == {str(snapshot_id): "done"}
    assert not world.context.files.snapshot_path(str(snapshot_id)).exists()
    assert volume_host.load_volume(world.app, volume_id).snapshot_ids == []
    delete_volume(str(volume_id), world.app, world.alice)  # no dependent snapshot now


# --- restore and reconcile ----------------------------------------------------------


def _with_wanted(world: World, volumes: list[UUID]) -> VolumeContext:
    """The context, its ``wanted`` read from the aggregates (the read model's query
    is tested on PostgreSQL)."""

    def wanted() -> list[tuple[str, list[str]]]:
        rows = []
        for volume_id in volumes:
            volume = volume_host.load_volume(world.app, volume_id)
            if volume.is_deleted:
                continue
            granted = [
                a for a, f in volume.attachments.items() if f["access"] and not f.get("unplugged")
            ]
            rows.append((str(volume_id), granted))
        return rows

    return VolumeContext(**{**world.context.__dict__, "wanted": wanted})


def _repairs(world: World) -> list[tuple[str, str]]:
    found = []
    for n in world.app.recorder.select_notifications(start=1, limit=10_000):
        if n.topic.endswith("Volume.DriftRepaired"):
            event = world.app.mapper.to_domain_event(n)
            found.append((event.repair, event.detail))
    return found


def test_reconcile_restores_a_lost_export_and_acl_and_records_it(world: World) -> None:
    server, volume_id = _server(world), _made(world)
    attached = attach_volume(str(server), str(volume_id), False, world.app, world.alice)
    jobs.grant_attachments(world.context, [volume_id])
    context = _with_wanted(world, [volume_id])
    world.target.remove_export(str(volume_id))  # tgt lost it (a restart without restore)
    repairs = jobs_reconcile.reconcile_exports(context)
    initiator = attachment_initiator_iqn(attached.attachment_id)
    assert len(repairs) == 2
    (export,) = world.target.list_exports()
    assert export.initiators == (initiator,)
    assert _repairs(world) == [
        ("export_restored", f"volume-{volume_id}"),
        ("acl_restored", initiator),
    ]
    assert jobs_reconcile.reconcile_exports(context) == []  # in line now


def test_reconcile_drops_an_acl_entry_and_a_target_the_ledger_has_not(world: World) -> None:
    kept, deleted = _made(world), _made(world)
    stranger = attachment_initiator_iqn("9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d")
    world.target.ensure_acl(str(kept), stranger)
    delete_volume(str(deleted), world.app, world.alice)
    volume = volume_host.load_volume(world.app, deleted)
    volume.mark_deleted(world.alice)  # as if the host crashed before removing its target
    world.app.save(volume)
    context = _with_wanted(world, [kept, deleted])
    jobs_reconcile.reconcile_exports(context)
    assert [e.volume_id for e in world.target.list_exports()] == [str(kept)]
    assert world.target.list_exports()[0].initiators == ()
    assert ("acl_removed", stranger) in _repairs(world)
    assert ("export_removed", f"volume-{deleted}") in _repairs(world)


def test_a_restarted_target_is_given_every_export_with_its_acl(world: World) -> None:
    server, volume_id = _server(world), _made(world)
    attach_volume(str(server), str(volume_id), False, world.app, world.alice)
    jobs.grant_attachments(world.context, [volume_id])
    never_made = _volume(world)
    wanted = jobs_reconcile.wanted_exports(_with_wanted(world, [volume_id, never_made]))
    assert [w.volume_id for w in wanted] == [str(volume_id)]
    assert len(wanted[0].initiators) == 1
    assert wanted[0].chap_secret not in repr(wanted[0])


def test_upload_sends_the_bytes_to_the_queued_image_in_its_format(world: World) -> None:
    from commands.volume_upload import UploadToImage, upload_to_image

    volume_id = _made(world)
    with world.context.files.volume_path(str(volume_id)).open("r+b") as file:
        file.write(b"marker")
    sent: dict[str, bytes] = {}

    def upload(image_id: str, source: Path) -> None:
        sent[image_id] = source.read_bytes()[:6]

    context = VolumeContext(**{**world.context.__dict__, "upload_image": upload})
    for disk_format, first_bytes in (("raw", b"marker"), ("qcow2", b"QFI\xfb\x00\x00")):
        started = upload_to_image(
            UploadToImage(str(volume_id), f"img-{disk_format}", disk_format), world.app, world.alice
        )
        assert _status(world, volume_id) == "uploading"
        assert jobs.upload_volumes(context, [volume_id]) == {str(volume_id): "done"}
        assert sent[started.image_id] == first_bytes
        assert _status(world, volume_id) == "available"
    assert list(context.scratch.glob("*")) == []


def test_an_upload_to_an_image_deleted_meanwhile_fails_and_frees_the_volume(world: World) -> None:
    from commands.volume_upload import UploadToImage, upload_to_image

    volume_id = _made(world)
    started = upload_to_image(UploadToImage(str(volume_id), "img"), world.app, world.alice)
    image = world.app.repository.get(UUID(started.image_id))
    image.delete(world.alice)
    world.app.save(image)
    assert jobs.upload_volumes(world.context, [volume_id]) == {str(volume_id): "error"}
    assert _status(world, volume_id) == "available"


def test_deleting_a_server_frees_its_volume_with_data_intact(world: World) -> None:
    from commands.compute import finish_delete
    from commands.server_actions import act_on_servers

    server, volume_id = _server(world), _made(world)
    attached = attach_volume(str(server), str(volume_id), False, world.app, world.alice)
    jobs.grant_attachments(world.context, [volume_id])
    volume_host.finish_attach(world.app, volume_id, attached.attachment_id, datetime.now(UTC), HOST)
    with world.context.files.volume_path(str(volume_id)).open("r+b") as file:
        file.write(b"keep me")
    (outcome,) = act_on_servers([("delete", str(server), world.alice)], world.app)
    assert not isinstance(outcome, DomainError)
    assert _status(world, volume_id) == "detaching"
    finish_delete(world.app, server)  # the compute host removed the guest
    assert jobs.revoke_attachments(world.context, [volume_id]) == {str(volume_id): "done"}
    assert _status(world, volume_id) == "available"
    assert world.target.list_exports()[0].initiators == ()
    with world.context.files.volume_path(str(volume_id)).open("rb") as file:
        assert file.read(7) == b"keep me"


def test_a_boot_whose_volume_cannot_be_made_fails_its_server(world: World) -> None:
    from domain.instance import Instance

    cmd = BootServer(
        "bfv", "1", "", "none", block_devices=(BlockDevice("image", world.image_id, 0, 1),)
    )
    (receipt,) = boot_servers([(cmd, world.alice)], world.app)
    assert not isinstance(receipt, DomainError)
    server = world.app.repository.get(receipt.id)
    (volume_id,) = server.volumes
    # The default context fetches no image: the volume cannot be made.
    assert jobs.create_volumes(world.context, [UUID(volume_id)]) == {volume_id: "error"}
    failed = world.app.repository.get(receipt.id)
    assert isinstance(failed, Instance)
    assert failed.vm_state == "error"
    assert failed.volumes == {}
    quota = world.app.repository.get(Quota.create_id(world.alice.project_id))
    assert quota.in_use["instances"] == 0  # the failed build freed it
    assert quota.in_use["gigabytes"] == 1  # the volume in error still holds its own
