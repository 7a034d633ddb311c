"""Unit tests for the Image aggregate."""

import pytest

from domain.errors import InvalidInput, InvalidTransition
from domain.image import Image
from domain.values import Actor

OWNER = Actor("u1", "p1", ("member",), "req-1")


def _image(visibility: str = "private") -> Image:
    image = Image(
        owner="p1",
        name="cirros",
        disk_format="qcow2",
        container_format="bare",
        visibility=visibility,
        min_disk=0,
        min_ram=0,
        properties={"os_distro": "cirros"},
        actor=OWNER,
    )
    image.collect_events()
    return image


def test_new_image_is_queued_without_checksums() -> None:
    image = _image()
    assert image.status == "queued"
    assert (image.checksum, image.hash_algo, image.hash_value, image.size) == (
        None,
        None,
        None,
        None,
    )
    assert image.properties == {"os_distro": "cirros"}


def test_record_upload_makes_the_image_active() -> None:
    image = _image()
    image.record_upload("md5sum", "sha512", "sha512sum", 42, OWNER)
    assert image.status == "active"
    assert (image.checksum, image.hash_algo, image.hash_value, image.size) == (
        "md5sum",
        "sha512",
        "sha512sum",
        42,
    )
    (event,) = image.collect_events()
    assert isinstance(event, Image.Uploaded)
    assert event.size == 42


def test_second_upload_is_an_invalid_transition() -> None:
    image = _image()
    image.record_upload("a", "sha512", "b", 1, OWNER)
    with pytest.raises(InvalidTransition, match="upload"):
        image.record_upload("c", "sha512", "d", 2, OWNER)
    assert image.checksum == "a"


def test_upload_after_delete_is_an_invalid_transition() -> None:
    image = _image()
    image.delete(OWNER)
    with pytest.raises(InvalidTransition):
        image.record_upload("a", "sha512", "b", 1, OWNER)


def test_delete_twice_appends_one_event() -> None:
    image = _image()
    image.delete(OWNER)
    image.delete(OWNER)
    assert image.status == "deleted"
    assert len(image.collect_events()) == 1


def test_owner_sees_a_private_image_others_do_not() -> None:
    image = _image("private")
    assert image.visible_to("p1", is_admin=False)
    assert not image.visible_to("p2", is_admin=False)
    assert image.visible_to("p2", is_admin=True)


@pytest.mark.parametrize("visibility", ["public", "community"])
def test_public_and_community_images_are_visible_to_everyone(visibility: str) -> None:
    assert _image(visibility).visible_to("p2", is_admin=False)


def test_shared_image_is_hidden_from_other_projects() -> None:
    assert not _image("shared").visible_to("p2", is_admin=False)


def test_deleted_image_is_visible_to_nobody() -> None:
    image = _image("public")
    image.delete(OWNER)
    assert not image.visible_to("p1", is_admin=False)
    assert not image.visible_to("p1", is_admin=True)


def test_validate_accepts_known_formats() -> None:
    Image.validate("raw", "bare", "public")


@pytest.mark.parametrize(
    ("disk", "container", "visibility", "word"),
    [
        ("floppy", "bare", "private", "disk_format"),
        ("raw", "zip", "private", "container_format"),
        ("raw", "bare", "secret", "visibility"),
    ],
)
def test_validate_rejects_unknown_values(
    disk: str, container: str, visibility: str, word: str
) -> None:
    with pytest.raises(InvalidInput, match=word):
        Image.validate(disk, container, visibility)


def test_an_upload_is_saving_until_it_is_recorded() -> None:
    image = _image()
    image.start_upload("up-1", OWNER)
    assert image.status == "saving"
    image.record_upload("md5", "sha512", "sha", 3, OWNER, "up-1")
    assert (image.status, image.upload_id) == ("active", None)
    kinds = [type(e).__name__ for e in image.collect_events()]
    assert kinds == ["UploadStarted", "Uploaded"]


def test_an_aborted_upload_takes_the_image_back_to_queued() -> None:
    image = _image()
    image.start_upload("up-1", OWNER)
    assert image.abort_upload("up-1", "client went away", OWNER)
    assert image.status == "queued"
    assert not image.abort_upload("up-1", "again", OWNER)  # nothing left to abort
    assert [type(e).__name__ for e in image.collect_events()] == ["UploadStarted", "UploadAborted"]


def test_only_the_latest_upload_of_a_saving_image_may_finish_or_abort() -> None:
    image = _image()
    image.start_upload("dead", OWNER)
    image.start_upload("alive", OWNER)
    assert not image.abort_upload("dead", "late failure", OWNER)
    with pytest.raises(InvalidTransition):
        image.record_upload("md5", "sha512", "sha", 3, OWNER, "dead")
    assert image.status == "saving"
    image.record_upload("md5", "sha512", "sha", 3, OWNER, "alive")
    assert image.status == "active"


def test_an_active_image_takes_no_upload() -> None:
    image = _image()
    image.record_upload("md5", "sha512", "sha", 3, OWNER)
    with pytest.raises(InvalidTransition, match="upload"):
        image.start_upload("up-2", OWNER)
