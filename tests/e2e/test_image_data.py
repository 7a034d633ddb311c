"""Image data over real HTTP: uploads stream and fail cleanly (interrupted,
past the size cap, onto an active image), downloads send Content-MD5 and
serve Range requests. On a stack of its own with a 1 MiB image size cap."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from e2e.helpers import (
    Session,
    Stack,
    create_member,
    last_notification_id,
    login,
    running_stack,
    wait_for,
)
from ops.postgres import PrivateCluster
from ops.redis import PrivateRedis

pytestmark = pytest.mark.e2e

IMAGES = "/image/v2/images"
CAP = 1 << 20
DATA = bytes(range(256)) * 1000  # 256,000 bytes


@pytest.fixture(scope="module")
def capped(
    pg_cluster: PrivateCluster, redis_server: PrivateRedis, template_database: str
) -> Iterator[Stack]:
    redis_url = redis_server.url().rsplit("/", 1)[0] + "/6"
    cap = {"CLOUDLEDGER_IMAGE_SIZE_CAP": str(CAP)}
    with running_stack(pg_cluster, template_database, redis_url, "db", cap, hosts=1) as stack:
        yield stack


@pytest.fixture
def owner(capped: Stack) -> Iterator[Session]:
    member = create_member(capped, "imgdata")
    session = login(capped, member.user, member.password, member.project)
    yield session
    session.client.close()


def _new_image(session: Session) -> str:
    response = session.client.post(IMAGES, json={"name": "data", "disk_format": "raw"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _image(session: Session, image_id: str) -> dict[str, Any]:
    response = session.client.get(f"{IMAGES}/{image_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _store_files(stack: Stack, image_id: str) -> list[Path]:
    """Every file of the image in the API's store, temporary ones included."""
    return [p for p in (stack.state_dir / "images").iterdir() if image_id in p.name]


def _active(session: Session) -> str:
    image_id = _new_image(session)
    put = session.client.put(f"{IMAGES}/{image_id}/file", content=DATA)
    assert put.status_code == 204, put.text
    return image_id


def _events_of(stack: Stack, since: int) -> list[str]:
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute(
            "SELECT topic FROM cloudledger_events WHERE notification_id > %s "
            "ORDER BY notification_id",
            (since,),
        ).fetchall()
    return [str(topic).rpartition(".")[2] for (topic,) in rows]


def test_an_upload_is_stored_with_its_hashes(owner: Session, capped: Stack) -> None:
    image = _image(owner, _active(owner))
    assert image["status"] == "active"
    assert image["size"] == len(DATA)
    assert image["checksum"] == hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == hashlib.sha512(DATA).hexdigest()


def test_an_interrupted_upload_leaves_the_image_queued_and_no_file(
    owner: Session, capped: Stack
) -> None:
    image_id = _new_image(owner)
    port = int(capped.url.rsplit(":", 1)[1])
    token = owner.client.headers["X-Auth-Token"]
    head = (
        f"PUT {IMAGES}/{image_id}/file HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"X-Auth-Token: {token}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {CAP - 1}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + DATA)  # a quarter of what it promised
        wait_for(lambda: _image(owner, image_id)["status"] == "saving", 10, "saving")
    # The client is gone: the upload ends, the image is queued again, nothing kept.
    wait_for(lambda: _image(owner, image_id)["status"] == "queued", 10, "queued again")
    wait_for(lambda: not _store_files(capped, image_id), 10, "the partial file to go")
    again = owner.client.put(f"{IMAGES}/{image_id}/file", content=DATA)
    assert again.status_code == 204, again.text
    assert _image(owner, image_id)["status"] == "active"


def test_an_upload_past_the_size_cap_is_413_and_the_image_stays_queued(
    owner: Session, capped: Stack
) -> None:
    image_id = _new_image(owner)

    def over_the_cap() -> Iterator[bytes]:  # chunked: no Content-Length to refuse early
        for _ in range(CAP // len(DATA) + 2):
            yield DATA

    response = owner.client.put(f"{IMAGES}/{image_id}/file", content=over_the_cap())
    assert response.status_code == 413, response.text
    assert response.json()["requestEntityTooLarge"]["code"] == 413
    assert _image(owner, image_id)["status"] == "queued"
    assert not _store_files(capped, image_id)


def test_a_declared_size_past_the_cap_is_413_before_anything_is_appended(
    owner: Session, capped: Stack
) -> None:
    image_id = _new_image(owner)
    before = last_notification_id(capped)
    response = owner.client.put(
        f"{IMAGES}/{image_id}/file",
        content=b"x" * (CAP + 1),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 413, response.text
    assert last_notification_id(capped) == before
    assert _image(owner, image_id)["status"] == "queued"


def test_an_upload_to_an_active_image_is_409_and_appends_nothing(
    owner: Session, capped: Stack
) -> None:
    image_id = _active(owner)
    before = last_notification_id(capped)
    response = owner.client.put(f"{IMAGES}/{image_id}/file", content=b"other bytes")
    assert response.status_code == 409, response.text
    assert "conflictingRequest" in response.json()
    assert last_notification_id(capped) == before
    assert owner.client.get(f"{IMAGES}/{image_id}/file").content == DATA


def test_the_ledger_shows_saving_then_inspected_and_active(owner: Session, capped: Stack) -> None:
    before = last_notification_id(capped)
    _active(owner)
    assert _events_of(capped, before)[-3:] == ["UploadStarted", "Inspected", "Uploaded"]


def test_a_download_sends_content_md5_and_length(owner: Session) -> None:
    image_id = _active(owner)
    response = owner.client.get(f"{IMAGES}/{image_id}/file")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["Content-MD5"] == hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, len(DATA) - 1),
        ("bytes=-256", len(DATA) - 256, len(DATA) - 1),
        ("bytes=255000-999999999", 255000, len(DATA) - 1),  # clipped at the end
    ],
)
def test_a_range_request_gets_206_with_those_bytes(
    owner: Session, header: str, first: int, last: int
) -> None:
    image_id = _active(owner)
    response = owner.client.get(f"{IMAGES}/{image_id}/file", headers={"Range": header})
    assert response.status_code == 206, response.text
    assert response.content == DATA[first : last + 1]
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert response.headers["Content-Length"] == str(last - first + 1)


@pytest.mark.parametrize("header", [f"bytes={len(DATA)}-", "bytes=-0", "bytes=10-5"])
def test_an_unsatisfiable_range_is_416(owner: Session, header: str) -> None:
    image_id = _active(owner)
    response = owner.client.get(f"{IMAGES}/{image_id}/file", headers={"Range": header})
    assert response.status_code == 416, response.text
    assert response.headers["Content-Range"] == f"bytes */{len(DATA)}"
    assert response.json()["requestedRangeNotSatisfiable"]["code"] == 416


def test_a_download_of_a_queued_image_is_204(owner: Session) -> None:
    response = owner.client.get(f"{IMAGES}/{_new_image(owner)}/file")
    assert (response.status_code, response.content) == (204, b"")


def test_another_projects_private_image_data_is_404(owner: Session, capped: Stack) -> None:
    image_id = _active(owner)
    other = create_member(capped, "imgdata-other")
    stranger = login(capped, other.user, other.password, other.project)
    try:
        assert stranger.client.get(f"{IMAGES}/{image_id}/file").status_code == 404
        put = stranger.client.put(f"{IMAGES}/{_new_image(owner)}/file", content=b"x")
        assert put.status_code == 404
    finally:
        stranger.client.close()


def test_a_download_left_unread_does_not_block_other_requests(
    owner: Session, capped: Stack
) -> None:
    """A download left unread does not stop other requests being served."""
    image_id = _active(owner)
    with (
        httpx.Client(base_url=capped.url, headers=dict(owner.client.headers)) as slow,
        slow.stream("GET", f"{IMAGES}/{image_id}/file") as stream,
    ):
        assert stream.status_code == 200
        time.sleep(0.1)
        assert owner.client.get(f"{IMAGES}/{image_id}").status_code == 200
