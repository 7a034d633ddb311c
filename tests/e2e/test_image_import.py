"""Glance's interoperable import (glance-direct) over real HTTP: the
unmodified CLI's `image create --import` stages then imports, and the image
goes queued -> uploading -> active with the bytes it staged. Out-of-turn
steps get Glance's 409 or 400 and append nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import Session, Stack, create_member, last_notification_id, login
from e2e.test_openstack_cli import as_json, ok, openstack

pytestmark = pytest.mark.e2e

IMAGES = "/image/v2/images"
IMPORT = {"method": {"name": "glance-direct"}}


def _status(session: Session, image_id: str) -> Any:
    return session.client.get(f"{IMAGES}/{image_id}").json()["status"]


def test_the_cli_imports_an_image_by_staging_it(stack: Stack, tmp_path: Path) -> None:
    data = tmp_path / "disk.raw"
    data.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    name = "imported-by-cli"
    create = ["image", "create", "--import", "--disk-format", "raw", "--file", str(data)]
    created = as_json(openstack(stack, *create, name, "-f", "json"))
    shown = as_json(openstack(stack, "image", "show", created["id"], "-f", "json"))
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(data.read_bytes(), usedforsecurity=False).hexdigest()
    saved = tmp_path / "saved.raw"
    ok(openstack(stack, "image", "save", "--file", str(saved), created["id"]))
    assert saved.read_bytes() == data.read_bytes()
    ok(openstack(stack, "image", "delete", created["id"]))


def test_stage_and_import_step_by_step_and_out_of_turn(stack: Stack) -> None:
    member, stranger = create_member(stack, "importer"), create_member(stack, "stranger")
    owner = login(stack, member.user, member.password, member.project)
    outsider = login(stack, stranger.user, stranger.password, stranger.project)
    try:
        info = owner.client.get("/image/v2/info/import").json()
        assert info["import-methods"]["value"] == ["glance-direct"]
        image_id = owner.client.post(IMAGES, json={"name": "i", "disk_format": "raw"}).json()["id"]
        before = last_notification_id(stack)
        refused = owner.client.post(f"{IMAGES}/{image_id}/import", json=IMPORT)
        assert refused.status_code == 409  # nothing staged yet
        unknown = {"method": {"name": "web-download", "uri": "http://127.0.0.1/x"}}
        assert owner.client.post(f"{IMAGES}/{image_id}/import", json=unknown).status_code == 400
        other = outsider.client.put(f"{IMAGES}/{image_id}/stage", content=b"x")
        assert other.status_code == 404  # another project's private image
        assert last_notification_id(stack) == before  # refusals append nothing

        staged = owner.client.put(
            f"{IMAGES}/{image_id}/stage",
            content=b"abc",
            headers={"Content-Type": "application/octet-stream"},
        )
        assert staged.status_code == 204, staged.text
        assert _status(owner, image_id) == "uploading"
        assert owner.client.get(f"{IMAGES}/{image_id}/file").status_code == 204  # no data yet
        done = owner.client.post(f"{IMAGES}/{image_id}/import", json=IMPORT)
        assert done.status_code == 202, done.text
        image = owner.client.get(f"{IMAGES}/{image_id}").json()
        assert (image["status"], image["size"], image["os_hash_algo"]) == ("active", 3, "sha512")
        assert image["os_hash_value"] == hashlib.sha512(b"abc").hexdigest()
        assert owner.client.get(f"{IMAGES}/{image_id}/file").content == b"abc"

        before = last_notification_id(stack)
        again = owner.client.put(f"{IMAGES}/{image_id}/stage", content=b"more")
        assert again.status_code == 409  # an active image takes no staging
        assert owner.client.post(f"{IMAGES}/{image_id}/import", json=IMPORT).status_code == 409
        assert last_notification_id(stack) == before
    finally:
        owner.client.close()
        outsider.client.close()
