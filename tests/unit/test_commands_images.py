"""Unit tests for the image commands and the directory image store."""

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError
from hostile_images import qcow2

from commands.app import CloudApp
from commands.image_files import DirectoryImageStore
from commands.images import CreateImage, create_image, delete_image, upload_image
from commands.ports import StoredBlob
from commands.receipt import Receipt
from domain.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    TooLarge,
)
from domain.image import MAX_PROPERTIES, MAX_PROPERTY_VALUE, Image
from domain.values import Actor

DATA = qcow2(tail=bytes(range(256)) * 40)  # what the image says it is: a qcow2


@dataclass
class World:
    app: CloudApp
    store: DirectoryImageStore
    alice: Actor  # member of p-alpha
    bob: Actor  # member of p-beta
    admin: Actor


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(
        CloudApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
        DirectoryImageStore(tmp_path / "images"),
        Actor("alice", "p-alpha", ("member",), "req-a"),
        Actor("bob", "p-beta", ("member",), "req-b"),
        Actor("root", "p-admin", ("admin",), "req-r"),
    )


def _max_id(app: CloudApp) -> int:
    return app.recorder.max_notification_id() or 0


def _create(world: World, actor: Actor, visibility: str = "private") -> str:
    cmd = CreateImage("cirros", visibility=visibility)
    return str(create_image(cmd, world.app, actor).id)


def _upload(world: World, image_id: str, actor: Actor, data: bytes = DATA) -> None:
    chunks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    upload_image(image_id, chunks, world.app, world.store, actor)


def _image(world: World, image_id: str) -> Image:
    image = world.app.repository.get(UUID(image_id))
    assert isinstance(image, Image)
    return image


def _stored(world: World, image_id: str) -> bytes:
    return b"".join(world.store.open(image_id))


# --- create -----------------------------------------------------------------


def test_create_image_is_queued_and_owned_by_the_callers_project(
    world: World,
) -> None:
    image = _image(world, _create(world, world.alice))
    assert image.owner == "p-alpha"
    assert image.status == "queued"
    assert (image.disk_format, image.container_format) == ("qcow2", "bare")


def test_create_public_image_by_admin_is_allowed(world: World) -> None:
    assert _image(world, _create(world, world.admin, "public")).visibility == "public"


def test_create_image_with_unknown_disk_format_is_invalid_input(
    world: World,
) -> None:
    with pytest.raises(InvalidInput, match="disk_format"):
        create_image(CreateImage("x", disk_format="floppy"), world.app, world.alice)
    assert _max_id(world.app) == 0


@pytest.mark.parametrize(
    "cmd",
    [
        CreateImage("x" * 256),
        CreateImage("x", min_disk=-1),
        CreateImage("x", min_ram=-1),
    ],
)
def test_create_image_with_bad_fields_is_invalid_input(
    world: World,
    cmd: CreateImage,
) -> None:
    with pytest.raises(InvalidInput):
        create_image(cmd, world.app, world.alice)


# --- upload -----------------------------------------------------------------


def test_upload_sets_checksums_size_and_status(world: World) -> None:
    image_id = _create(world, world.alice)
    _upload(world, image_id, world.alice)
    image = _image(world, image_id)
    assert image.status == "active"
    assert image.checksum == hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    assert image.hash_algo == "sha512"
    assert image.hash_value == hashlib.sha512(DATA).hexdigest()
    assert image.size == len(DATA)
    assert _stored(world, image_id) == DATA


def _topics_since(world: World, position: int) -> list[str]:
    return [
        n.topic.rpartition(".")[2]
        for n in world.app.recorder.select_notifications(position + 1, 100)
    ]


def test_upload_is_saving_while_the_bytes_stream_then_active(world: World) -> None:
    image_id = _create(world, world.alice)
    before = _max_id(world.app)
    seen: list[str] = []

    def chunks() -> Iterable[bytes]:
        yield DATA[:100]
        seen.append(_image(world, image_id).status)  # mid-upload, as a reader sees it
        yield DATA[100:]

    receipt = upload_image(image_id, chunks(), world.app, world.store, world.alice)
    assert seen == ["saving"]
    assert [t for _, t in receipt.events] == [
        "domain.image_safety:ImageSafety.Inspected",
        "domain.image:Image.Uploaded",
    ]
    assert _topics_since(world, before) == ["UploadStarted", "Inspected", "Uploaded"]


def test_second_upload_is_an_invalid_transition_and_keeps_the_bytes(
    world: World,
) -> None:
    image_id = _create(world, world.alice)
    _upload(world, image_id, world.alice)
    before = _max_id(world.app)
    with pytest.raises(InvalidTransition, match="upload"):
        _upload(world, image_id, world.alice, b"other bytes")
    assert _max_id(world.app) == before
    assert _stored(world, image_id) == DATA


def test_upload_by_non_owner_of_a_public_image_is_forbidden(world: World) -> None:
    image_id = _create(world, world.admin, "public")
    with pytest.raises(Forbidden):
        _upload(world, image_id, world.alice)
    assert _image(world, image_id).status == "queued"


def test_upload_by_non_owner_of_a_community_image_is_forbidden(world: World) -> None:
    image_id = _create(world, world.bob, "community")
    with pytest.raises(Forbidden):
        _upload(world, image_id, world.alice)


def test_upload_to_another_projects_private_image_is_not_found(
    world: World,
) -> None:
    image_id = _create(world, world.bob)
    with pytest.raises(NotFound):
        _upload(world, image_id, world.alice)


def test_admin_can_upload_to_another_projects_image(world: World) -> None:
    image_id = _create(world, world.bob)
    _upload(world, image_id, world.admin)
    assert _image(world, image_id).status == "active"


@pytest.mark.parametrize("image_id", ["not-a-uuid", "6d1a4b8e-2f0c-4f4e-9a57-3c2b7d9e1f00"])
def test_upload_to_unknown_image_is_not_found(world: World, image_id: str) -> None:
    with pytest.raises(NotFound):
        _upload(world, image_id, world.alice)


def test_failed_store_leaves_the_image_queued_and_the_ledger_unchanged(
    world: World,
) -> None:
    image_id = _create(world, world.alice)
    before = _max_id(world.app)

    def broken() -> Iterable[bytes]:
        yield b"partial"
        raise OSError("client went away")

    aborted: list[Receipt] = []
    with pytest.raises(OSError, match="client went away"):
        upload_image(
            image_id, broken(), world.app, world.store, world.alice, on_abort=aborted.append
        )
    # The caller hears of the abort's events, to wait for its reads to show them.
    assert [t for r in aborted for _, t in r.events] == ["domain.image:Image.UploadAborted"]
    # The ledger says what happened: it was saving, then it was not.
    assert _topics_since(world, before) == ["UploadStarted", "UploadAborted"]
    assert _image(world, image_id).status == "queued"
    assert list(world.store.root.iterdir()) == []
    _upload(world, image_id, world.alice)  # and it can be uploaded again
    assert _stored(world, image_id) == DATA


def test_upload_past_the_size_cap_is_too_large_and_leaves_the_image_queued(
    world: World,
) -> None:
    image_id = _create(world, world.alice)
    before = _max_id(world.app)
    with pytest.raises(TooLarge, match="size cap is 1000 bytes"):
        upload_image(
            image_id,
            [DATA[:600], DATA[600:1200]],
            world.app,
            world.store,
            world.alice,
            max_size=1000,
        )
    assert _image(world, image_id).status == "queued"
    assert _topics_since(world, before) == ["UploadStarted", "UploadAborted"]
    assert list(world.store.root.iterdir()) == []


def test_an_upload_taken_over_by_a_later_one_cannot_finish(world: World) -> None:
    """An image left 'saving' (its API process died) takes a new upload; the
    first, should it still be alive, is refused at its end and keeps nothing."""
    image_id = _create(world, world.alice)

    def overtaken() -> Iterable[bytes]:
        yield b"first"
        _upload(world, image_id, world.alice)  # a second upload, start to end

    with pytest.raises(DomainError):
        upload_image(image_id, overtaken(), world.app, world.store, world.alice)
    image = _image(world, image_id)
    assert image.status == "active"
    assert _stored(world, image_id) == DATA
    assert image.checksum == hashlib.md5(DATA, usedforsecurity=False).hexdigest()


# --- delete -----------------------------------------------------------------


def test_delete_image_marks_it_deleted_and_removes_the_bytes(world: World) -> None:
    image_id = _create(world, world.alice)
    _upload(world, image_id, world.alice)
    delete_image(image_id, world.app, world.store, world.alice)
    assert _image(world, image_id).status == "deleted"
    with pytest.raises(NotFound):
        world.store.open(image_id)


def test_delete_image_twice_is_not_found(world: World) -> None:
    image_id = _create(world, world.alice)
    delete_image(image_id, world.app, world.store, world.alice)
    with pytest.raises(NotFound):
        delete_image(image_id, world.app, world.store, world.alice)


def test_delete_public_image_by_non_admin_is_forbidden(world: World) -> None:
    image_id = _create(world, world.admin, "public")
    before = _max_id(world.app)
    with pytest.raises(Forbidden):
        delete_image(image_id, world.app, world.store, world.alice)
    assert _max_id(world.app) == before


def test_upload_to_a_deleted_image_is_not_found(world: World) -> None:
    image_id = _create(world, world.alice)
    delete_image(image_id, world.app, world.store, world.alice)
    with pytest.raises(NotFound):
        _upload(world, image_id, world.alice)


# --- directory store --------------------------------------------------------


def test_store_rejects_blobs_over_the_size_limit_and_leaves_no_file(
    tmp_path: Path,
) -> None:
    store = DirectoryImageStore(tmp_path)
    image_id = str(uuid4())
    with pytest.raises(TooLarge, match="size cap is 10 bytes"):
        store.put(image_id, [b"123456", b"789012"], max_size=10)
    assert list(tmp_path.iterdir()) == []


def test_store_returns_size_and_digests(tmp_path: Path) -> None:
    blob = DirectoryImageStore(tmp_path).put(str(uuid4()), [b"ab", b"c"], 10)
    assert blob == StoredBlob(
        3,
        hashlib.md5(b"abc", usedforsecurity=False).hexdigest(),
        hashlib.sha512(b"abc").hexdigest(),
    )


@pytest.mark.parametrize("image_id", ["../etc/passwd", "x" * 36, ""])
def test_store_refuses_ids_that_are_not_uuids(tmp_path: Path, image_id: str) -> None:
    with pytest.raises(NotFound):
        DirectoryImageStore(tmp_path).put(image_id, [b"x"], 10)


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [(0, None, b"0123456789"), (3, None, b"3456789"), (2, 3, b"234"), (9, 5, b"9")],
)
def test_store_reads_a_range(
    tmp_path: Path, offset: int, length: int | None, expected: bytes
) -> None:
    store = DirectoryImageStore(tmp_path)
    image_id = str(uuid4())
    store.put(image_id, [b"01234", b"56789"], 100)
    assert b"".join(store.open(image_id, offset, length)) == expected


def test_store_drops_temp_files_of_uploads_that_died_long_ago(tmp_path: Path) -> None:
    dead, live = tmp_path / f".{uuid4()}.a.part", tmp_path / f".{uuid4()}.b.part"
    dead.write_bytes(b"half")
    live.write_bytes(b"still coming")
    os.utime(dead, (1000.0, 1000.0))
    os.utime(live, (1000.0 + 3500, 1000.0 + 3500))
    DirectoryImageStore(tmp_path, now=1000.0 + 3601)
    assert (dead.exists(), live.exists()) == (False, True)


def test_store_delete_of_missing_blob_is_a_no_op(tmp_path: Path) -> None:
    DirectoryImageStore(tmp_path).delete(str(uuid4()))


def test_store_put_never_replaces_existing_bytes(tmp_path: Path) -> None:
    store = DirectoryImageStore(tmp_path)
    image_id = str(uuid4())
    store.put(image_id, [b"first"], 100)
    with contextlib.suppress(DomainError):
        store.put(image_id, [b"second"], 100)
    assert b"".join(store.open(image_id)) == b"first"


class InterleavingStore:
    """An ImageStore that lets a competing request finish just before it stores:
    the interleaving two concurrent uploads of one image can have."""

    def __init__(self, inner: DirectoryImageStore, competing: Callable[[], None]):
        self.inner, self.competing = inner, competing

    def put(self, image_id: str, chunks: Iterable[bytes], max_size: int) -> StoredBlob:
        self.competing()
        return self.inner.put(image_id, chunks, max_size)

    def open(self, image_id: str, offset: int = 0, length: int | None = None) -> Iterable[bytes]:
        return self.inner.open(image_id, offset, length)

    def delete(self, image_id: str) -> None:
        self.inner.delete(image_id)


def test_concurrent_uploads_keep_stored_bytes_matching_the_checksum(
    world: World,
) -> None:
    image_id = _create(world, world.alice)

    def winner() -> None:
        upload_image(image_id, [qcow2(tail=b"winner")], world.app, world.store, world.alice)

    racing = InterleavingStore(world.store, winner)
    with contextlib.suppress(IntegrityError, DomainError):
        upload_image(image_id, [qcow2(tail=b"loser")], world.app, racing, world.alice)
    image = _image(world, image_id)
    stored = _stored(world, image_id)
    assert image.checksum == hashlib.md5(stored, usedforsecurity=False).hexdigest()


def test_glance_property_limits_hold_and_nothing_is_appended(world: World) -> None:
    before = _max_id(world.app)
    too_many = {f"k{i}": "v" for i in range(MAX_PROPERTIES + 1)}
    with pytest.raises(TooLarge, match=f"Maximum: {MAX_PROPERTIES}"):
        create_image(CreateImage("big", properties=too_many), world.app, world.alice)
    with pytest.raises(InvalidInput, match="at most"):
        create_image(CreateImage("k", properties={"k" * 256: "v"}), world.app, world.alice)
    with pytest.raises(InvalidInput, match="at most"):
        long_value = {"note": "v" * (MAX_PROPERTY_VALUE + 1)}
        create_image(CreateImage("v", properties=long_value), world.app, world.alice)
    assert _max_id(world.app) == before


def test_properties_at_glance_limits_are_accepted(world: World) -> None:
    at_limit = {f"k{i:03}" + "k" * 251: "v" * 10 for i in range(MAX_PROPERTIES)}
    receipt = create_image(CreateImage("full", properties=at_limit), world.app, world.alice)
    image: Image = world.app.repository.get(receipt.id)
    assert len(image.properties) == MAX_PROPERTIES
