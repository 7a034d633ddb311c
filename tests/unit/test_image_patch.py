"""Unit tests for Glance's JSON-patch on the Image aggregate (commands/image_patch.py)."""

from typing import Any

import pytest

from commands.image_patch import change_of, checked_document
from domain.errors import Conflict, DomainError, Forbidden, InvalidInput
from domain.image import Image
from domain.values import Actor

OWNER = Actor("u1", "p1", ("member",), "req-1")
ADMIN = Actor("root", "p-admin", ("admin",), "req-2")


def _image(**properties: str) -> Image:
    image = Image(
        owner="p1",
        name="cirros",
        disk_format="qcow2",
        container_format="bare",
        visibility="private",
        min_disk=0,
        min_ram=0,
        properties=properties,
        actor=OWNER,
    )
    image.collect_events()
    return image


def _patch(image: Image, *ops: dict[str, Any], actor: Actor = OWNER) -> list[Any]:
    change = change_of(image, checked_document(list(ops)), actor)
    image.update(change.core, change.properties, change.removed, actor)
    return list(image.collect_events())


def test_add_replace_and_remove_of_additional_properties_are_one_event() -> None:
    image = _image(os_distro="ubuntu", old="x")
    (event,) = _patch(
        image,
        {"op": "replace", "path": "/os_distro", "value": "cirros"},
        {"op": "add", "path": "/hw_disk_bus", "value": "virtio"},
        {"op": "remove", "path": "/old"},
    )
    assert isinstance(event, Image.Updated)
    assert event.properties == {"os_distro": "cirros", "hw_disk_bus": "virtio"}
    assert event.removed == ["old"]
    assert image.properties == {"os_distro": "cirros", "hw_disk_bus": "virtio"}


def test_core_properties_and_tags_change_through_the_patch() -> None:
    image = _image()
    (event,) = _patch(
        image,
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "replace", "path": "/min_ram", "value": 512},
        {"op": "add", "path": "/tags/-", "value": "t1"},
        {"op": "add", "path": "/tags/0", "value": "t0"},
        {"op": "replace", "path": "/protected", "value": True},
    )
    assert event.core == {
        "name": "renamed",
        "min_ram": 512,
        "tags": ["t0", "t1"],
        "protected": True,
    }
    assert (image.name, image.min_ram, image.tags, image.protected) == (
        "renamed",
        512,
        ["t0", "t1"],
        True,
    )


def test_a_patch_that_changes_nothing_appends_nothing() -> None:
    image = _image(os_distro="cirros")
    assert _patch(image, {"op": "add", "path": "/os_distro", "value": "cirros"}) == []


@pytest.mark.parametrize(
    "path", ["/id", "/status", "/size", "/checksum", "/os_hash_value", "/created_at", "/owner"]
)
def test_read_only_properties_are_forbidden(path: str) -> None:
    ops = checked_document([{"op": "replace", "path": path, "value": "x"}])
    with pytest.raises(Forbidden, match="read-only"):
        change_of(_image(), ops, OWNER)


def test_an_admin_may_change_the_owner() -> None:
    image = _image()
    (event,) = _patch(image, {"op": "replace", "path": "/owner", "value": "p2"}, actor=ADMIN)
    assert event.core == {"owner": "p2"}


@pytest.mark.parametrize(
    "doc",
    [
        {"op": "add"},
        [{"op": "move", "path": "/name", "from": "/x"}],
        [{"op": "add", "path": "/name"}],
        [{"path": "/name", "value": "x"}],
        ["add"],
        [{"op": "add", "path": "name", "value": "x"}],
        [{"op": "add", "path": "/os_distro/deep", "value": "x"}],
        [{"op": "add", "path": "/tags/9", "value": "x"}],
    ],
)
def test_malformed_patch_documents_are_400(doc: Any) -> None:
    with pytest.raises(InvalidInput):
        change_of(_image(), checked_document(doc), OWNER)


def test_replacing_or_removing_a_missing_property_is_a_conflict() -> None:
    for op in ("replace", "remove"):
        ops = checked_document([{"op": op, "path": "/nope", "value": "x"}])
        with pytest.raises(Conflict, match="does not exist"):
            change_of(_image(), ops, OWNER)


def test_core_properties_cannot_be_removed() -> None:
    with pytest.raises(Forbidden, match="may not be removed"):
        change_of(_image(), checked_document([{"op": "remove", "path": "/name"}]), OWNER)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/min_disk", "big"),
        ("/min_disk", -1),
        ("/protected", "yes"),
        ("/visibility", "everyone"),
        ("/disk_format", "floppy"),
        ("/tags", "t1"),
        ("/tags", ["bad\x00tag"]),
        ("/os_distro", 7),
        ("/os_distro", "nul\x00"),
    ],
)
def test_bad_values_are_refused_and_record_nothing(path: str, value: Any) -> None:
    image = _image()
    with pytest.raises(DomainError):
        _patch(image, {"op": "add", "path": path, "value": value})
    assert image.collect_events() == []


def test_formats_change_only_while_queued() -> None:
    image = _image()
    image.record_upload("m", "sha512", "s", 1, OWNER)
    with pytest.raises(Forbidden, match="queued"):
        _patch(image, {"op": "replace", "path": "/disk_format", "value": "raw"})
