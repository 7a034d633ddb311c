"""Issue 19, part 1, as a hostile tenant tries it with the unmodified
`openstack` CLI: an image that would have a compute host read one of its own
files (a qcow2 backed by a host path or with an external data file, a vmdk
whose extent is a host path, content that is not its disk_format) is refused
at the upload with a 400: nothing is stored, the image stays queued, and the
ledger says who tried and why. An unsafe image planted in a host's cache is
refused by the host (ERROR, a short reason), and a size bomb by the API."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hostile_images import made_qcow2, qcow2_with_data_file, vmdk_flat_descriptor
from psycopg.rows import dict_row

from commands.bootstrap import build_services
from e2e.helpers import (
    COMPUTE,
    HOSTS,
    Member,
    Session,
    Stack,
    boot_body,
    create_member,
    login,
    wait_for_status,
)
from e2e.test_openstack_cli import as_json, clouds_yaml_for, ok, openstack

pytestmark = pytest.mark.e2e


def _as(stack: Stack, where: Path, who: Member) -> Stack:
    """The same stack, with the CLI logged in as ``who``."""
    where.mkdir()
    clouds_yaml_for(stack, where, who.user, who.password, who.project)
    return replace(stack, state_dir=where)


def _secret(stack: Stack) -> str:
    """The host file the issue's walk reads back: the compute service's password."""
    path = stack.state_dir / "service-credentials" / "compute.password"
    assert path.is_file()
    return str(path)


def _stored(stack: Stack, image_id: str) -> list[Path]:
    """Every file of the image in the API's store, temporary ones included."""
    return [p for p in (stack.state_dir / "images").iterdir() if image_id in p.name]


def _ledger(stack: Stack, image_id: str) -> list[Any]:
    services = build_services(stack.settings(), pool_size=1)
    try:
        return list(services.app.events.get(UUID(image_id)))
    finally:
        services.app.close()


def _image_named(stack: Stack, who: Member, name: str) -> dict[str, Any]:
    """The image row, whatever became of it (the CLI deletes an image whose
    upload failed, as openstacksdk does)."""
    with psycopg.connect(stack.database_url, row_factory=dict_row) as conn:
        (row,) = conn.execute(
            "SELECT i.* FROM images i JOIN directory_projects p ON p.id = i.owner "
            "WHERE i.name = %s AND p.name = %s",
            (name, who.project),
        ).fetchall()
    return row


def _refused(stack: Stack, admin: Session, who: Member, name: str, reason: str) -> None:
    """What a refused upload leaves: no data, no file, and the refusal in the
    ledger and the audit, with who tried."""
    image = _image_named(stack, who, name)
    image_id = str(image["id"])
    assert (image["size"], image["checksum"]) == (None, None)
    assert image["status"] in ("queued", "deleted")  # the CLI deletes what it could not upload
    assert _stored(stack, image_id) == []
    events = _ledger(stack, image_id)
    assert "ImageSafety.UploadRefused" in [type(e).__qualname__ for e in events]
    assert "Image.Uploaded" not in [type(e).__qualname__ for e in events]
    (refusal,) = [e for e in events if type(e).__qualname__ == "ImageSafety.UploadRefused"]
    assert reason in refusal.reason and _secret(stack) not in refusal.reason
    trail = admin.client.get("/audit", params={"resource_id": image_id, "limit": "100"})
    assert trail.status_code == 200, trail.text
    (audited,) = [e for e in trail.json()["events"] if e["event"].endswith("UploadRefused")]
    assert audited["initiator"]["id"] == refusal.actor.user_id
    assert audited["initiator"]["project_id"] == image["owner"]


def test_the_walk_of_the_issue_is_refused_at_the_upload(
    stack: Stack, admin: Session, tmp_path: Path
) -> None:
    member = create_member(stack, "walk")
    cli = _as(stack, tmp_path / "member", member)
    evil = made_qcow2(tmp_path, size="1M", backing=_secret(stack))

    create = openstack(cli, "image", "create", "--disk-format", "qcow2",
                       "--container-format", "bare", "--file", str(evil), "evil")  # fmt: skip

    assert create.returncode != 0
    assert "400" in create.stderr and "may not name a backing file" in create.stderr
    assert _secret(stack) not in create.stderr
    _refused(stack, admin, member, "evil", "backing file")


@pytest.mark.parametrize("kind", ["data-file", "vmdk-flat-extent", "raw-holding-qcow2"])
def test_other_hostile_uploads_are_refused_at_the_upload(
    stack: Stack, admin: Session, tmp_path: Path, kind: str
) -> None:
    member = create_member(stack, "hostile")
    cli = _as(stack, tmp_path / "member", member)
    disk_format, reason = {
        "data-file": ("qcow2", "external data file"),
        "vmdk-flat-extent": ("vmdk", "extents inside the file"),
        "raw-holding-qcow2": ("raw", "its content is qcow2, not raw"),
    }[kind]
    path = tmp_path / "image"
    if kind == "data-file":
        path = qcow2_with_data_file(tmp_path, _secret(stack))
    elif kind == "vmdk-flat-extent":
        path.write_bytes(vmdk_flat_descriptor(_secret(stack)))
    else:
        path = made_qcow2(tmp_path, backing=_secret(stack))

    create = openstack(cli, "image", "create", "--disk-format", disk_format,
                       "--file", str(path), kind)  # fmt: skip

    assert create.returncode != 0 and "400" in create.stderr, create.stderr
    _refused(stack, admin, member, kind, reason)


def test_an_import_of_a_hostile_image_is_refused_at_its_staging(
    stack: Stack, admin: Session, tmp_path: Path
) -> None:
    member = create_member(stack, "hostile-import")
    cli = _as(stack, tmp_path / "member", member)
    evil = made_qcow2(tmp_path, backing=_secret(stack))

    create = openstack(cli, "image", "create", "--import", "--disk-format", "qcow2",
                       "--file", str(evil), "evil-import")  # fmt: skip

    assert create.returncode != 0 and "400" in create.stderr, create.stderr
    _refused(stack, admin, member, "evil-import", "backing file")
    image_id = str(_image_named(stack, member, "evil-import")["id"])
    assert not (stack.state_dir / "image-staging" / image_id).exists()


def test_a_refused_upload_leaves_the_image_queued_and_says_why_in_the_image_apis_shape(
    stack: Stack, admin: Session, tmp_path: Path
) -> None:
    member = create_member(stack, "queued")
    session = login(stack, member.user, member.password, member.project)
    try:
        image_id = session.client.post("/image/v2/images", json={"name": "q"}).json()["id"]
        evil = made_qcow2(tmp_path, backing=_secret(stack)).read_bytes()

        put = session.client.put(
            f"/image/v2/images/{image_id}/file",
            content=evil,
            headers={"Content-Type": "application/octet-stream"},
        )

        assert put.status_code == 400
        message = put.json()["badRequest"]["message"]
        assert message == "Image data refused: a qcow2 image may not name a backing file."
        shown = session.client.get(f"/image/v2/images/{image_id}").json()
        assert (shown["status"], shown["size"], shown["virtual_size"]) == ("queued", None, None)
        assert session.client.get(f"/image/v2/images/{image_id}/file").status_code == 204
        boot = session.client.post(f"{COMPUTE}/servers", json=boot_body("q", image_id))
        assert boot.status_code == 400  # a queued image never boots
    finally:
        session.client.close()
    _refused(stack, admin, member, "q", "backing file")


def test_a_good_upload_shows_its_virtual_size(stack: Stack, tmp_path: Path) -> None:
    cli = _as(stack, tmp_path / "member", create_member(stack, "good"))
    disk = made_qcow2(tmp_path, size="64M")

    ok(openstack(cli, "image", "create", "--disk-format", "qcow2", "--file", str(disk), "good"))

    shown = as_json(openstack(cli, "image", "show", "-f", "json", "good"))
    assert (shown["status"], shown["virtual_size"]) == ("active", 64 << 20)


def test_a_size_bomb_is_refused_at_boot_with_novas_message(stack: Stack, tmp_path: Path) -> None:
    cli = _as(stack, tmp_path / "member", create_member(stack, "bomb"))
    bomb = made_qcow2(tmp_path, size="1T")  # a few hundred KiB that claim a TiB
    ok(openstack(cli, "image", "create", "--disk-format", "qcow2", "--file", str(bomb), "bomb"))

    boot = openstack(cli, "server", "create", "--flavor", "m1.tiny", "--image", "bomb",
                     "--nic", "none", "vm-bomb")  # fmt: skip

    assert boot.returncode != 0
    assert (
        "Flavor's disk is too small for requested image. Flavor disk is 1073741824 bytes, "
        f"image is {1 << 40} bytes." in boot.stderr
    )
    assert "vm-bomb" not in ok(openstack(cli, "server", "list", "-f", "value", "-c", "Name"))


def _plant(stack: Stack, image_id: str, hostile: bytes, good: bytes) -> None:
    """Into every host's cache, past the API: the hostile bytes, with a record
    vouching for them as the image the ledger knows (its size and hash)."""
    for host in HOSTS:
        base = stack.state_dir / "hosts" / host / "disks" / "_base"
        base.mkdir(parents=True, exist_ok=True)
        path = base / image_id
        path.write_bytes(hostile)
        record = {
            "size": len(good),
            "sha512": hashlib.sha512(good).hexdigest(),
            "md5": hashlib.md5(good, usedforsecurity=False).hexdigest(),
            "mtime_ns": path.stat().st_mtime_ns,
        }
        (base / f"{image_id}.verified").write_text(json.dumps(record))


def test_an_unsafe_image_planted_in_a_host_cache_is_refused_by_the_host(
    stack: Stack, tmp_path: Path
) -> None:
    member = create_member(stack, "planted")
    session = login(stack, member.user, member.password, member.project)
    good_file, evil_file = made_qcow2(tmp_path), made_qcow2(tmp_path, backing=_secret(stack))
    size = max(good_file.stat().st_size, evil_file.stat().st_size)
    good, evil = (f.read_bytes().ljust(size, b"\0") for f in (good_file, evil_file))
    try:
        created = session.client.post("/image/v2/images", json={"name": "planted"})
        image_id = created.json()["id"]
        put = session.client.put(
            f"/image/v2/images/{image_id}/file",
            content=good,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert put.status_code == 204, put.text
        _plant(stack, image_id, evil, good)

        booted = session.client.post(f"{COMPUTE}/servers", json=boot_body("planted", image_id))
        assert booted.status_code == 202, booted.text
        server = wait_for_status(session.client, booted.json()["server"]["id"], ["ERROR"])

        message = server["fault"]["message"]
        assert "not safe to use" in message and "backing file" in message, message
        assert str(stack.state_dir) not in message and _secret(stack) not in message
        planted = [stack.state_dir / "hosts" / h / "disks" / "_base" / image_id for h in HOSTS]
        assert not all(p.exists() for p in planted)  # the host that found it removed it
    finally:
        session.client.close()
