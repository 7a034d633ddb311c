"""Unit tests for Glance's visibility rules, members and deactivation on the Image aggregate."""

import pytest

from domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from domain.image import Image
from domain.image_members import can_see
from domain.values import Actor

OWNER = Actor("u1", "p1", ("member",), "req-1")
OTHER = Actor("u2", "p2", ("member",), "req-2")


def _image(visibility: str) -> Image:
    image = Image(
        owner="p1",
        name="img",
        disk_format="qcow2",
        container_format="bare",
        visibility=visibility,
        min_disk=0,
        min_ram=0,
        properties={},
        actor=OWNER,
    )
    image.collect_events()
    return image


@pytest.mark.parametrize(
    ("visibility", "seen"),
    [("public", True), ("community", True), ("private", False), ("shared", False)],
)
def test_another_project_sees_only_public_and_community_images(visibility: str, seen: bool) -> None:
    image = _image(visibility)
    assert image.visible_to("p2", is_admin=False) is seen
    assert image.visible_to("p1", is_admin=False)
    assert image.visible_to("p9", is_admin=True)


def test_a_member_sees_a_shared_image_and_lists_it_once_accepted() -> None:
    image = _image("shared")
    image.add_member("p2", OWNER)
    assert image.visible_to("p2", is_admin=False)
    assert not can_see("p1", "shared", image.members, "p2", False, any_member_status=False)
    image.set_member_status("p2", "accepted", OTHER)
    assert can_see("p1", "shared", image.members, "p2", False, any_member_status=False)
    assert [type(e) for e in image.collect_events()] == [
        Image.MemberAdded,
        Image.MemberStatusChanged,
    ]


@pytest.mark.parametrize("visibility", ["public", "private", "community"])
def test_only_shared_images_have_members(visibility: str) -> None:
    image = _image(visibility)
    with pytest.raises(Forbidden, match="Only shared images have members"):
        image.add_member("p2", OWNER)
    assert image.collect_events() == []


def test_member_rules() -> None:
    image = _image("shared")
    image.add_member("p2", OWNER)
    with pytest.raises(Conflict):
        image.add_member("p2", OWNER)
    with pytest.raises(InvalidInput):
        image.set_member_status("p2", "maybe", OTHER)
    with pytest.raises(NotFound):
        image.set_member_status("p3", "accepted", OTHER)
    image.remove_member("p2", OWNER)
    assert not image.visible_to("p2", is_admin=False)


def test_deactivate_and_reactivate_an_active_image() -> None:
    image = _image("private")
    with pytest.raises(Forbidden):
        image.deactivate(OWNER)  # queued
    image.record_upload("m", "sha512", "s", 1, OWNER)
    image.deactivate(OWNER)
    assert image.status == "deactivated"
    image.deactivate(OWNER)  # again: nothing
    image.reactivate(OWNER)
    assert image.status == "active"
    assert [type(e) for e in image.collect_events()] == [
        Image.Uploaded,
        Image.Deactivated,
        Image.Reactivated,
    ]


def test_a_protected_image_is_not_deleted() -> None:
    image = _image("private")
    image.update({"protected": True}, {}, [], OWNER)
    with pytest.raises(Forbidden, match="protected"):
        image.delete(OWNER)
