"""Unit tests for the Volume and VolumeSnapshot aggregates: Cinder's statuses,
attachments one at a time (several only for a multiattach type), and what a
volume refuses while it is in use, in error or busy."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.errors import InvalidInput, InvalidTransition
from domain.values import Actor
from domain.volume import Volume
from domain.volume_snapshot import VolumeSnapshot
from domain.volume_type import DEFAULT_TYPE, TypeInfo
from domain.volume_values import (
    AttachStatus,
    SnapshotStatus,
    VolumeStatus,
    next_device,
    snapshot_quota,
    volume_quota,
)

ALICE = Actor("alice", "alpha", ("member",), "req-1")
NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _volume(multiattach: bool = False, source: str = "", size: int = 1) -> Volume:
    return Volume(
        project_id="alpha",
        user_id="alice",
        name="data",
        description="",
        size=size,
        availability_zone="nova",
        volume_type_id=DEFAULT_TYPE.id,
        volume_type_name=DEFAULT_TYPE.name,
        multiattach=multiattach,
        source_kind=source,
        source_id=str(uuid4()) if source else "",
        metadata={},
        image_metadata={},
        bootable=False,
        actor=ALICE,
    )


def _available(multiattach: bool = False) -> Volume:
    volume = _volume(multiattach)
    volume.mark_available("storage", "127.0.0.1:3260", ALICE)
    return volume


def _attach(volume: Volume, server: str = "s1") -> str:
    attachment_id = str(uuid4())
    volume.reserve_attachment(attachment_id, server, "compute-1", "/dev/vdc", ALICE)
    volume.grant_access(attachment_id, ALICE)
    volume.mark_attached(attachment_id, NOW, ALICE)
    return attachment_id


def test_a_new_volume_is_creating_then_available() -> None:
    volume = _volume()
    assert volume.status == VolumeStatus.CREATING
    volume.mark_available("storage", "127.0.0.1:3260", ALICE)
    assert volume.status == VolumeStatus.AVAILABLE
    assert (volume.host, volume.portal) == ("storage", "127.0.0.1:3260")


def test_a_volume_from_an_image_downloads_first() -> None:
    volume = _volume(source="image")
    volume.mark_downloading(ALICE)
    assert volume.status == VolumeStatus.DOWNLOADING
    volume.mark_available("h", "127.0.0.1:3260", ALICE)
    assert volume.status == VolumeStatus.AVAILABLE


def test_only_an_image_volume_downloads() -> None:
    with pytest.raises(InvalidTransition):
        _volume().mark_downloading(ALICE)


def test_a_failed_create_is_error_with_its_reason() -> None:
    volume = _volume()
    volume.fail("no space left", ALICE)
    assert volume.status == VolumeStatus.ERROR
    assert volume.fault == "no space left"


def test_attach_goes_attaching_then_in_use_once_access_is_granted() -> None:
    volume = _available()
    attachment_id = str(uuid4())
    volume.reserve_attachment(attachment_id, "s1", "compute-1", "/dev/vdc", ALICE)
    assert volume.status == VolumeStatus.ATTACHING
    with pytest.raises(InvalidTransition):  # the ACL first
        volume.mark_attached(attachment_id, NOW, ALICE)
    volume.grant_access(attachment_id, ALICE)
    volume.mark_attached(attachment_id, NOW, ALICE)
    assert volume.status == VolumeStatus.IN_USE
    found = volume.attachment(attachment_id)
    assert found["status"] == AttachStatus.ATTACHED
    assert found["attached_at"] == NOW
    assert found["device"] == "/dev/vdc"


def test_an_in_use_volume_refuses_a_second_attachment() -> None:
    volume = _available()
    _attach(volume)
    with pytest.raises(InvalidTransition):
        volume.reserve_attachment(str(uuid4()), "s2", "compute-1", "/dev/vdc", ALICE)
    assert len(volume.attachments) == 1


def test_a_multiattach_volume_takes_several_servers_but_each_once() -> None:
    volume = _available(multiattach=True)
    _attach(volume, "s1")
    _attach(volume, "s2")
    assert volume.status == VolumeStatus.IN_USE
    assert len(volume.attachments) == 2
    with pytest.raises(InvalidInput):
        volume.reserve_attachment(str(uuid4()), "s1", "compute-1", "/dev/vdd", ALICE)


@pytest.mark.parametrize("status", ["error", "error_deleting", "error_extending", "deleting"])
def test_a_volume_in_error_or_deleting_refuses_attach(status: str) -> None:
    volume = _available()
    volume.reset_status(status, ALICE)
    with pytest.raises(InvalidTransition):
        volume.reserve_attachment(str(uuid4()), "s1", "compute-1", "/dev/vdc", ALICE)
    assert volume.attachments == {}


def test_a_creating_volume_takes_an_attachment_only_at_boot() -> None:
    volume = _volume()
    with pytest.raises(InvalidTransition):
        volume.reserve_attachment(str(uuid4()), "s1", "", "/dev/vda", ALICE)
    attachment_id = str(uuid4())
    volume.reserve_attachment(attachment_id, "s1", "", "/dev/vda", ALICE, at_boot=True)
    assert volume.status == VolumeStatus.CREATING
    assert volume.attachment(attachment_id)["status"] == AttachStatus.RESERVED
    volume.mark_available("h", "127.0.0.1:3260", ALICE)  # made: the boot's attach goes ahead
    assert volume.status == VolumeStatus.ATTACHING
    assert volume.attachment(attachment_id)["status"] == AttachStatus.ATTACHING


def test_a_volume_that_fails_to_be_made_fails_its_boot_attachment() -> None:
    volume = _volume()
    volume.reserve_attachment(str(uuid4()), "s1", "", "/dev/vda", ALICE, at_boot=True)
    volume.fail("image unreadable", ALICE)
    assert volume.status == VolumeStatus.ERROR
    assert volume.attachments == {}


def test_detach_unplugs_then_drops_the_acl_then_available() -> None:
    volume = _available()
    attachment_id = _attach(volume)
    volume.request_detach(attachment_id, ALICE)
    assert volume.status == VolumeStatus.DETACHING
    with pytest.raises(InvalidTransition):  # the guest lets go first
        volume.mark_detached(attachment_id, ALICE)
    volume.mark_unplugged(attachment_id, ALICE)
    volume.mark_detached(attachment_id, ALICE)
    assert volume.status == VolumeStatus.AVAILABLE
    assert volume.attachments == {}


def test_a_detach_the_guest_ignored_leaves_it_attached() -> None:
    volume = _available()
    attachment_id = _attach(volume)
    volume.request_detach(attachment_id, ALICE)
    volume.fail_detach(attachment_id, "the guest did not release the disk", ALICE)
    assert volume.status == VolumeStatus.IN_USE


def test_a_failed_attach_leaves_the_volume_available() -> None:
    volume = _available()
    attachment_id = str(uuid4())
    volume.reserve_attachment(attachment_id, "s1", "compute-1", "/dev/vdc", ALICE)
    volume.fail_attach(attachment_id, "host down", ALICE)
    assert volume.status == VolumeStatus.AVAILABLE
    assert volume.attachments == {}


def test_delete_is_refused_while_attached_or_with_snapshots() -> None:
    volume = _available()
    attachment_id = _attach(volume)
    with pytest.raises(InvalidInput):
        volume.request_delete(ALICE)
    volume.request_detach(attachment_id, ALICE)
    volume.mark_unplugged(attachment_id, ALICE)
    volume.mark_detached(attachment_id, ALICE)
    volume.note_snapshot("snap-1", False, ALICE)
    with pytest.raises(InvalidInput, match="dependent snapshots"):
        volume.request_delete(ALICE)
    volume.forget_snapshot("snap-1", ALICE)
    volume.request_delete(ALICE)
    assert volume.status == VolumeStatus.DELETING
    volume.mark_deleted(ALICE)
    assert volume.is_deleted
    assert not volume.visible_to(ALICE)


def test_a_creating_volume_cannot_be_deleted_but_an_errored_one_can() -> None:
    volume = _volume()
    with pytest.raises(InvalidInput):
        volume.request_delete(ALICE)
    volume.fail("broken", ALICE)
    volume.request_delete(ALICE)
    volume.fail_delete("zeroing failed", ALICE)
    assert volume.status == VolumeStatus.ERROR_DELETING
    volume.request_delete(ALICE)  # tried again
    assert volume.status == VolumeStatus.DELETING


def test_extend_grows_an_available_volume_and_returns_to_available() -> None:
    volume = _available()
    volume.request_extend(2, ALICE)
    assert volume.status == VolumeStatus.EXTENDING
    volume.mark_extended(ALICE)
    assert (volume.size, volume.status) == (2, VolumeStatus.AVAILABLE)


def test_extend_must_grow_and_needs_an_available_volume() -> None:
    volume = _available()
    with pytest.raises(InvalidInput, match="greater than current size"):
        volume.request_extend(1, ALICE)
    _attach(volume)
    with pytest.raises(InvalidInput, match="must be available"):
        volume.request_extend(2, ALICE)
    volume.request_extend(2, ALICE, in_use=True)
    volume.mark_extended(ALICE)
    assert (volume.size, volume.status) == (2, VolumeStatus.IN_USE)


def test_a_failed_extend_keeps_the_size_as_error_extending() -> None:
    volume = _available()
    volume.request_extend(5, ALICE)
    volume.fail_extend("no room", ALICE)
    assert (volume.size, volume.status) == (1, VolumeStatus.ERROR_EXTENDING)


def test_a_snapshot_of_an_in_use_volume_needs_force() -> None:
    volume = _available()
    _attach(volume)
    with pytest.raises(InvalidInput, match="force"):
        volume.note_snapshot("snap-1", False, ALICE)
    volume.note_snapshot("snap-1", True, ALICE)
    assert volume.snapshot_ids == ["snap-1"]


def test_reset_status_takes_only_cinder_statuses() -> None:
    volume = _volume()
    with pytest.raises(InvalidInput):
        volume.reset_status("broken", ALICE)
    volume.reset_status("available", ALICE)
    assert volume.status == VolumeStatus.AVAILABLE


def test_reserve_and_unreserve() -> None:
    volume = _available()
    volume.reserve(ALICE)
    assert volume.status == VolumeStatus.ATTACHING  # as Cinder's os-reserve shows it
    volume.unreserve(ALICE)
    assert volume.status == VolumeStatus.AVAILABLE
    volume.reserve(ALICE)
    _attach(volume)  # the hold is taken up by the attach
    assert volume.status == VolumeStatus.IN_USE


def test_a_snapshot_is_creating_available_deleting() -> None:
    snapshot = VolumeSnapshot(
        project_id="alpha",
        user_id="alice",
        volume_id=str(uuid4()),
        name="s",
        description="",
        size=1,
        volume_type_name=DEFAULT_TYPE.name,
        metadata={},
        force=False,
        actor=ALICE,
    )
    assert snapshot.status == SnapshotStatus.CREATING
    with pytest.raises(InvalidInput):
        snapshot.request_delete(ALICE)
    snapshot.mark_available(ALICE)
    snapshot.request_delete(ALICE)
    snapshot.mark_deleted(ALICE)
    assert not snapshot.visible_to(ALICE)


def test_a_volume_holds_its_size_in_all_and_for_its_type() -> None:
    assert volume_quota(3, "__DEFAULT__") == {
        "volumes": 1,
        "gigabytes": 3,
        "volumes___DEFAULT__": 1,
        "gigabytes___DEFAULT__": 3,
    }
    assert snapshot_quota(3, "fast")["snapshots_fast"] == 1


def test_multiattach_comes_from_the_types_extra_spec() -> None:
    assert TypeInfo("1", "shared", extra_specs={"multiattach": "<is> True"}).multiattach
    assert not TypeInfo("1", "plain", extra_specs={"multiattach": "<is> False"}).multiattach
    assert not DEFAULT_TYPE.multiattach


def test_devices_are_handed_out_in_order_from_vdc() -> None:
    assert next_device([]) == "/dev/vdc"
    assert next_device(["/dev/vdc", "/dev/vde"]) == "/dev/vdd"
    every = [f"/dev/vd{c}" for c in "cdefghijklmnopqrstuvwxyz"]
    with pytest.raises(InvalidInput):
        next_device(every)
